"""What a report must name for a reader to judge it: the sweep's data set, model, budgets, seeds,
grid, reference method, hardware and software, read from its MLflow parent run and trial runs."""

from __future__ import annotations

import ast
import platform
from dataclasses import dataclass
from importlib import metadata

import pandas as pd
from mlflow import MlflowClient

SOFTWARE = ("torch", "torchvision", "torch-pruning", "ray", "mlflow", "optuna")


@dataclass(frozen=True)
class SweepContext:
    """One sweep's declared set-up (from its parent run's params) and where its trials ran."""

    sweep: str
    params: dict[str, str]
    grid: list[tuple[str, float]]
    seeds: list[int]
    reference: str | None
    reference_note: str
    devices: list[str]
    git_sha: str

    def param(self, key: str, default: str = "n/a") -> str:
        """A parent-run param as logged (the flattened space), or ``default``."""
        return self.params.get(key, default)


def _literal(text: str | None, default: object) -> object:
    try:
        return ast.literal_eval(text) if text else default
    except (ValueError, SyntaxError):
        return default


def _grid(params: dict[str, str], runs: pd.DataFrame) -> list[tuple[str, float]]:
    """The (method, sparsity) pairs the sweep declared, in spec order (the unpruned control at
    sparsity 0 only); from the runs seen when the parent run predates these params."""
    methods = _literal(params.get("methods"), None)
    sparsities = _literal(params.get("sparsities"), None)
    if methods and sparsities:
        return [(m, 0.0) if m == "unpruned" else (m, float(s))
                for m in methods for s in (sparsities if m != "unpruned" else [0.0])]
    trials = runs[runs["role"] == "trial"]
    pairs = trials[["method", "sparsity_target"]].drop_duplicates()
    return sorted((str(m), float(s)) for m, s in pairs.itertuples(index=False))


def _reference(params: dict[str, str], grid: list[tuple[str, float]]) -> tuple[str | None, str]:
    methods = list(dict.fromkeys(m for m, s in grid if m != "unpruned" and s > 0))
    wanted = params.get("reference", "magnitude")
    if wanted in methods:
        return wanted, f"reference method `{wanted}` (declared in the space)"
    if not methods:
        return None, "no pruned method to compare"
    return methods[0], (f"reference method `{methods[0]}`: the space's reference `{wanted}` is "
                        "not in this sweep, so its first method is used")


def sweep_context(client: MlflowClient, sweep: str, runs: pd.DataFrame) -> SweepContext:
    """Everything the report header and the comparison family need about ``sweep``."""
    exp = client.get_experiment_by_name(sweep)
    parents = client.search_runs([exp.experiment_id], "tags.role = 'sweep'",
                                 max_results=1) if exp else []
    # The parent run logs the resolved space as ``spec.<dotted key>`` params.
    params = {k.removeprefix("spec."): v
              for k, v in (parents[0].data.params.items() if parents else ())}
    git_sha = parents[0].data.tags.get("git_sha", "") if parents else ""
    own = runs[runs["sweep"] == sweep]
    grid = _grid(params, own)
    seeds = _literal(params.get("seeds"), None) or sorted(
        int(s) for s in own["seed"].unique() if s >= 0)
    reference, note = _reference(params, grid)
    devices = sorted({d for d in own.get("device", pd.Series(dtype=str)) if d})
    return SweepContext(sweep, params, grid, [int(s) for s in seeds], reference, note, devices,
                        git_sha)


def software_versions() -> str:
    """Versions of the packages results depend on, as installed where the report is built."""
    parts = [f"Python {platform.python_version()}"]
    for name in SOFTWARE:
        try:
            parts.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            continue
    return ", ".join(parts)


def header_lines(ctx: SweepContext, timing: str) -> list[str]:
    """The report's opening: set-up, budgets, seeds, hardware (``timing`` says where latencies
    come from), software, and which numbers are counted (hardware-independent) and which are
    timed (hardware-specific)."""
    p = ctx.param
    budget = f"dense {p('dense.epochs')} epoch(s), then retraining {p('finetune.epochs')} " \
             "epoch(s) per trial"
    if p("equal_budget", "False") == "True":
        budget += " for every method (equal budgets)"
    else:
        budget += " (rewinding methods retrain the rest of the dense schedule)"
    sizes = "/".join(p(f"data.{k}") for k in ("train_size", "val_size", "test_size"))
    return [
        f"- **Data set**: {p('data.name')} (train/validation/test images: {sizes})",
        f"- **Model**: {p('model.name')} at width {p('model.width')}",
        f"- **Budgets**: {budget}; per-method epochs in the table",
        f"- **Seeds**: {', '.join(str(s) for s in ctx.seeds)} (n = {len(ctx.seeds)})",
        f"- **Comparisons**: {ctx.reference_note}",
        f"- **Hardware**: trials trained on {', '.join(ctx.devices) or 'n/a'}; latencies "
        f"{timing}",
        f"- **Software**: {software_versions()}; code {ctx.git_sha[:12] or 'n/a'}",
        "- **Counted** from the saved tensors (the same on any machine): sparsity, parameters, "
        "MACs, bytes. **Timed** (specific to the hardware that timed them): latency, "
        "throughput, speedup.",
    ]
