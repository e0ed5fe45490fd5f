"""Where a sweep stands, cell by cell: its grid (from the sweep record) joined with its trial
runs in MLflow. ``status`` prints it; ``resume`` says from it what will run."""

from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pruning.schema import trial_label
from search_spaces.spec import SweepSpec

if TYPE_CHECKING:
    from mlflow import MlflowClient

STATES = ("pending", "running", "interrupted", "failed", "finished")


@dataclass(frozen=True)
class CellState:
    """One cell of the grid: its state and a detail (epoch k of n, the error, test_acc)."""

    method: str
    sparsity: float
    seed: int
    state: str
    detail: str = ""
    test_acc: float | None = None


def run_state(run: Any) -> str:
    """pending/running/interrupted/failed/finished of one MLflow trial run."""
    status, tags = run.info.status, run.data.tags
    if status == "FINISHED":
        return "finished"
    if tags.get("interrupted") == "true":
        return "interrupted"
    if status == "RUNNING":
        return "running"
    return "failed"


def trial_runs(client: MlflowClient, experiment_id: str) -> list[Any]:
    """Every trial run of a sweep's experiment."""
    return client.search_runs([experiment_id], filter_string="tags.role = 'trial'",
                              max_results=50000)


def finished_trial_labels(client: MlflowClient, experiment_id: str) -> list[str]:
    """``method s=0.5 seed=0`` of every FINISHED trial run (the progress lines' labels)."""
    return [trial_label(r.data.tags.get("method", "?"), float(r.data.tags.get("sparsity", "nan")),
                        r.data.tags.get("seed", "?"))
            for r in trial_runs(client, experiment_id) if r.info.status == "FINISHED"]


def _progress(client: MlflowClient, run: Any) -> str:
    planned = run.data.tags.get("epochs_planned")
    try:
        epochs = client.get_metric_history(run.info.run_id, "val_acc")
        rounds = client.get_metric_history(run.info.run_id, "round.sparsity")
    except Exception:  # noqa: BLE001 - progress detail is best effort
        return ""
    if not epochs and rounds:
        return f"round {len(rounds) + 1}"
    done = max((m.step for m in epochs), default=0)
    return f"epoch {done} of {planned}" if planned else f"epoch {done}"


def _samples_per_cell(spec: SweepSpec) -> int:
    return spec.search.num_samples if spec.search is not None else 1


def cell_states(client: MlflowClient, experiment_id: str, spec: SweepSpec) -> list[CellState]:
    """Every cell of the sweep's grid with its state, in the grid's order."""
    by_cell: dict[tuple[str, str, str], list[Any]] = {}
    for run in trial_runs(client, experiment_id):
        t = run.data.tags
        by_cell.setdefault((t.get("method", ""), t.get("sparsity", ""), t.get("seed", "")),
                           []).append(run)
    seeds = spec.seeds[:1] if spec.search is not None else spec.seeds
    samples = _samples_per_cell(spec)
    out = []
    for method, sparsity in spec.method_sparsities():
        for seed in seeds:
            runs = by_cell.get((method, f"{sparsity:g}", str(seed)), [])
            out.append(_cell(client, method, sparsity, seed, runs, samples))
    return out


def _cell(client: MlflowClient, method: str, sparsity: float, seed: int, runs: list[Any],
          samples: int) -> CellState:
    if not runs:
        return CellState(method, sparsity, seed, "pending")
    states = Counter(run_state(r) for r in runs)
    finished = [r for r in runs if run_state(r) == "finished"]
    acc = [r.data.metrics["test_acc"] for r in finished if "test_acc" in r.data.metrics]
    test_acc = sum(acc) / len(acc) if acc else None
    of = f"{states['finished']} of {samples} samples finished" if samples > 1 else ""
    if states["finished"] >= samples:
        return CellState(method, sparsity, seed, "finished", of, test_acc)
    for state in ("running", "failed", "interrupted"):
        found = [r for r in runs if run_state(r) == state]
        if not found:
            continue
        run = found[0]
        if state == "running":
            detail = _progress(client, run)
        elif state == "failed":
            error = run.data.tags.get("error", "").strip().splitlines()
            detail = error[-1][:120] if error else "error (see the run in MLflow)"
        else:
            detail = "continues from its last checkpoint on resume"
        return CellState(method, sparsity, seed, state, "; ".join(filter(None, (detail, of))),
                         test_acc)
    return CellState(method, sparsity, seed, "pending", of, test_acc)


def format_cells(cells: list[CellState], live: bool = True) -> str:
    """One line per cell, and the count of each state. Without a ``live`` driver, a run still
    marked running lost its driver (a SIGKILL, a lost node): it is shown as interrupted."""
    if not live:
        cells = [dataclasses.replace(c, state="interrupted", detail="its driver is gone; "
                                     "resume continues it") if c.state == "running" else c
                 for c in cells]
    counts = Counter(c.state for c in cells)
    lines = [f"{'method':14} {'sparsity':>8} {'seed':>5}  {'state':12} {'test_acc':>8}  detail"]
    for c in cells:
        acc = f"{100 * c.test_acc:.1f}%" if c.test_acc is not None else "-"
        lines.append(f"{c.method:14} {100 * c.sparsity:7.1f}% {c.seed:5}  {c.state:12} "
                     f"{acc:>8}  {c.detail}".rstrip())
    lines.append("cells: " + ", ".join(f"{counts[s]} {s}" for s in STATES if counts[s]))
    return "\n".join(lines)
