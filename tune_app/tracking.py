"""MLflow set-up for a sweep: tracking URI, reachability, experiment, the sweep's parent run."""

from __future__ import annotations

import json
import os
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

from tune_app.errors import UserError
from tune_app.waits import DEFAULT_S, bounded

if TYPE_CHECKING:  # mlflow costs seconds to import: argument errors must not wait for it
    from mlflow import MlflowClient

# The tag the MLflow UI keeps an experiment's kind in, and the kind its selector writes for
# "Machine learning" (ExperimentKind.CUSTOM_MODEL_DEVELOPMENT in mlflow/server/js). The 3.17 UI
# picks the view from its sidebar switch or ?workflowType= instead: see docs/mlflow.md.
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
ML_EXPERIMENT_KIND = "custom_model_development"
# A saved view of the runs table (MLflow >= 3.15): the UI lists the experiment tags with this
# prefix under "Views" and applies one opened as ?viewStateShareKey=<key>.
SAVED_VIEW_PREFIX = "mlflow.sharedViewState."
TRIALS_VIEW = "trials"
TRIALS_VIEW_COLUMNS = ("tags.`method`", "tags.`sparsity`", "tags.`seed`", "metrics.`test_acc`")


def resolve_tracking_uri(flag: str | None, runs_dir: Path) -> str:
    """``--mlflow-uri``, else ``MLFLOW_TRACKING_URI``, else ``sqlite:///<runs dir>/mlflow.db``."""
    uri = flag or os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{runs_dir / 'mlflow.db'}"
    if uri.startswith("file:") or "://" not in uri:
        raise UserError(
            f"unsupported MLflow URI {uri!r}: MLflow 3 refuses the file store; "
            "use sqlite:///path/mlflow.db or http://host:port"
        )
    return uri


def artifact_root(uri: str, runs_dir: Path) -> str | None:
    """Where a new experiment's artifacts go: beside the embedded store; a server decides itself."""
    if uri.startswith("sqlite:"):
        return (runs_dir / "mlartifacts").as_uri()
    return None


def check_reachable(uri: str, timeout_s: float = DEFAULT_S, write: bool = True) -> None:
    """Fail with one line when the tracking store cannot be used, within ``timeout_s``.
    Readers (``write=False``) accept a read-only sqlite file or directory (a copy, a share)."""
    if uri.startswith(("http://", "https://")):
        # The driver's own MLflow calls give up within the bound too (MLflow waits 120 s a try).
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", str(max(1, round(timeout_s))))
        bounded(lambda: _health(uri, timeout_s), f"MLflow server at {uri}", timeout_s)
    elif uri.startswith("sqlite:///"):
        db = Path(uri[len("sqlite:///"):])
        if not write:
            if not db.is_file() or not os.access(db, os.R_OK):
                raise UserError(f"no readable MLflow database at {db}")
        elif not db.parent.is_dir() or not os.access(db.parent, os.W_OK):
            raise UserError(f"MLflow database directory {db.parent} is missing or not writable")
    elif not uri.startswith(("postgresql", "mysql", "databricks")):
        raise UserError(f"unsupported MLflow URI {uri!r}")


def store_writable(uri: str) -> bool:
    """Whether this process can write to the tracking store (an sqlite file on a read-only
    mount or copy cannot be; servers and databases are assumed writable)."""
    if not uri.startswith("sqlite:///"):
        return True
    db = Path(uri[len("sqlite:///"):])
    return os.access(db.parent, os.W_OK) and (not db.exists() or os.access(db, os.W_OK))


def _health(uri: str, timeout_s: float) -> None:
    try:
        with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=timeout_s) as resp:
            if resp.status != 200:
                raise UserError(f"MLflow server at {uri} answered HTTP {resp.status}")
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        if isinstance(reason, TimeoutError | socket.timeout):
            reason = f"no answer within {timeout_s:g}s (--connect-timeout)"
        raise UserError(f"MLflow server at {uri} is unreachable ({reason})") from None


def get_or_create_experiment(client: MlflowClient, name: str, artifact_location: str | None) -> str:
    """The experiment named after the sweep (restored if it was deleted), of the machine-learning
    kind (``mlflow.experimentKind``; a kind someone chose for it is kept). Two drivers creating
    it at the same moment both get the one the store kept."""
    from mlflow.exceptions import MlflowException

    exp = client.get_experiment_by_name(name)
    if exp is None:
        location = f"{artifact_location}/{name}" if artifact_location else None
        try:
            return client.create_experiment(name, artifact_location=location,
                                            tags={EXPERIMENT_KIND_TAG: ML_EXPERIMENT_KIND})
        except MlflowException:
            exp = client.get_experiment_by_name(name)  # created by another driver just now
            if exp is None:
                raise
    if exp.lifecycle_stage == "deleted":
        client.restore_experiment(exp.experiment_id)
    if EXPERIMENT_KIND_TAG not in exp.tags:
        client.set_experiment_tag(exp.experiment_id, EXPERIMENT_KIND_TAG, ML_EXPERIMENT_KIND)
    return exp.experiment_id


def trials_view_state() -> dict[str, object]:
    """The runs table of the "Trials" view: method, sparsity, seed and test_acc columns, best
    test_acc first. Sorting by a metric also lists the child runs flat: the UI folds them under
    the sweep's parent run only when sorting by start time (its default)."""
    return {"orderByKey": "metrics.`test_acc`", "orderByAsc": False,
            "selectedColumns": list(TRIALS_VIEW_COLUMNS)}


def add_trials_view(client: MlflowClient, experiment_id: str) -> None:
    """Give a sweep's experiment the UI's machine-learning kind and its saved "Trials" view
    (see ``experiment_page_url``), unless it has them: a view edited in the UI is kept."""
    tags = client.get_experiment(experiment_id).tags
    if EXPERIMENT_KIND_TAG not in tags:
        client.set_experiment_tag(experiment_id, EXPERIMENT_KIND_TAG, ML_EXPERIMENT_KIND)
    key = SAVED_VIEW_PREFIX + TRIALS_VIEW
    if key not in tags:
        now = int(time.time() * 1000)
        # The UI's saved-view envelope; ``state`` may be plain JSON (or deflated by the UI).
        client.set_experiment_tag(experiment_id, key, json.dumps({
            "name": "Trials", "createdAt": now, "updatedAt": now,
            "state": json.dumps(trials_view_state()),
        }))


def experiment_page_url(ui_url: str, experiment_id: str) -> str:
    """The experiment's runs in the MLflow UI at ``ui_url``: the machine-learning view (whatever
    the browser last chose in the sidebar) with the "Trials" view applied."""
    return (f"{ui_url.rstrip('/')}/#/experiments/{experiment_id}/runs"
            f"?workflowType=machine_learning&viewStateShareKey={TRIALS_VIEW}")


def find_experiment(client: MlflowClient, name: str) -> str | None:
    """Experiment id of a sweep, or None."""
    exp = client.get_experiment_by_name(name)
    return None if exp is None else exp.experiment_id


def existing_trial_runs(client: MlflowClient, experiment_id: str) -> int:
    """How many trial or dense runs an experiment already holds."""
    from mlflow.entities import ViewType

    runs = client.search_runs(
        [experiment_id], filter_string="tags.role != 'analysis'", run_view_type=ViewType.ALL,
        max_results=10,
    )
    return len([r for r in runs if r.data.tags.get("role") in ("trial", "dense")])


def open_parent_run(
    client: MlflowClient, experiment_id: str, sweep: str, tags: dict[str, str]
) -> tuple[str, bool]:
    """The sweep's one parent run (continued, never duplicated) and whether it was created now.
    Run and resume both come here, so this is where the experiment gets its "Trials" view (a
    sweep from before the view existed too, when resumed). Its status is set by the caller once
    it holds the sweep's lease."""
    add_trials_view(client, experiment_id)
    found = sweep_runs(client, experiment_id)
    if found:
        return found[0].info.run_id, False
    run = client.create_run(
        experiment_id, run_name=f"sweep-{sweep}",
        tags={"role": "sweep", "sweep": sweep, "mlflow.runName": f"sweep-{sweep}", **tags},
    )
    return run.info.run_id, True


def sweep_runs(client: MlflowClient, experiment_id: str) -> list:
    """The experiment's active ``role=sweep`` runs, oldest first (the first is the sweep's)."""
    runs = client.search_runs([experiment_id], "tags.role = 'sweep'", max_results=100,
                              order_by=["attributes.start_time ASC"])
    return sorted(runs, key=lambda r: (r.info.start_time or 0, r.info.run_id))


def mark_parent_running(client: MlflowClient, run_id: str) -> None:
    """The parent run of a sweep a driver now holds: RUNNING, no longer ``interrupted``."""
    run = client.get_run(run_id)
    if "interrupted" in run.data.tags:
        client.delete_tag(run_id, "interrupted")  # resumed now
    client.update_run(run_id, status="RUNNING")


def fail_parent(client: MlflowClient, run_id: str, why: str) -> None:
    """Close a parent run whose driver stopped on an error before the sweep ended, so that
    nothing is left RUNNING; the error's first line is kept in its ``error`` tag."""
    try:
        client.set_tag(run_id, "error", (why.strip().splitlines() or ["error"])[0][:5000])
        client.set_terminated(run_id, status="FAILED")
    except Exception:  # noqa: BLE001 - already failing; the original error is what matters
        pass


def close_interrupted_runs(client: MlflowClient, experiment_id: str) -> int:
    """Mark trial and dense runs still RUNNING after an interrupt FAILED (``interrupted`` tag).

    Ray ends the stopped trials' workers without letting them close their runs; ``resume``
    continues these same runs. Returns how many were closed."""
    runs = client.search_runs(
        [experiment_id], "attributes.status = 'RUNNING'", max_results=10000
    )
    closed = 0
    for run in runs:
        if run.data.tags.get("role") in ("trial", "dense"):
            client.set_tag(run.info.run_id, "interrupted", "true")
            client.set_terminated(run.info.run_id, status="FAILED")
            closed += 1
    return closed


def close_orphaned_trial_runs(client: MlflowClient, experiment_id: str, search: bool) -> int:
    """After a stage's ``fit`` returned (no trial of it is alive), close trial runs it left
    RUNNING: Tune can end a worker the scheduler stopped before the trial closes its own run.
    A search sample is then an early stop (FINISHED, ``stopped_early``); a grid trial FAILED,
    with the reason in its ``error`` tag. Returns how many were closed."""
    runs = client.search_runs([experiment_id], "attributes.status = 'RUNNING'",
                              max_results=10000)
    closed = 0
    for run in runs:
        tags = run.data.tags
        if tags.get("role") != "trial" or (tags.get("search") == "true") != search:
            continue
        if search:
            client.set_tag(run.info.run_id, "stopped_early", "true")
            client.set_terminated(run.info.run_id, status="FINISHED")
        else:
            client.set_tag(run.info.run_id, "error",
                           "the trial's worker ended before the trial closed its run")
            client.set_terminated(run.info.run_id, status="FAILED")
        closed += 1
    return closed
