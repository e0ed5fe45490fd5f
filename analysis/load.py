"""MLflow runs of a sweep -> one tidy DataFrame (one row per trial, dense baselines alongside)."""

from __future__ import annotations

import os

import pandas as pd
from mlflow import MlflowClient
from mlflow.entities import ViewType

from pruning.schema import FINAL

EXECUTIONS = ("dense", "structured", "masked")


def execution_kind(role: str, method: str, sparsity: float, model_format: str | None,
                   metrics: dict) -> str:
    """How a result runs at inference: ``dense`` (the baseline, ``unpruned``), ``structured``
    (a smaller dense network) or ``masked`` (zeros in dense shapes: dense kernels unless a
    sparse execution path timed it). Runs from before the ``model_format`` tag are told apart by
    their parameter counts: a masked model keeps every parameter, zeros included."""
    if role == "dense" or method == "unpruned" or sparsity == 0:
        return "dense"
    if model_format:
        return "structured" if model_format == "structured" else "masked"
    total, nonzero = metrics.get("params_total"), metrics.get("params_nonzero")
    known = total is not None and nonzero is not None and total == total and nonzero == nonzero
    return "structured" if known and nonzero >= 0.99 * total else "masked"


class SweepNotFoundError(LookupError):
    """No experiment (or no runs) for the sweep name at that tracking URI."""


def load_runs(sweep: str, tracking_uri: str | None = None) -> pd.DataFrame:
    """Every trial (``role=trial``) and dense (``role=dense``, method ``dense``) run of a sweep.

    Columns: run_id, sweep, role, status, method, target sparsity (``sparsity_target``), seed,
    each final metric under its MLflow name, ``param.<dotted key>`` for params, ``recipe``,
    ``error``, ``node_id``, start/end times. Raises LookupError when the sweep is unknown."""
    uri = tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")
    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name(sweep)
    if exp is None:
        raise SweepNotFoundError(f"no MLflow experiment named {sweep!r} at {client.tracking_uri}")
    runs = client.search_runs([exp.experiment_id], filter_string="tags.role != 'sweep'",
                              run_view_type=ViewType.ACTIVE_ONLY, max_results=50000)
    rows = []
    for run in runs:
        tags = run.data.tags
        role = tags.get("role")
        if role not in ("trial", "dense"):
            continue
        row = {
            "run_id": run.info.run_id, "sweep": sweep, "role": role,
            "status": run.info.status,
            "method": tags.get("method", "dense") if role == "trial" else "dense",
            "sparsity_target": float(tags["sparsity"]) if role == "trial" else 0.0,
            "seed": int(tags.get("seed", -1)),
            "recipe": tags.get("recipe", ""), "error": tags.get("error", ""),
            "node_id": tags.get("node_id", ""), "device": tags.get("device", ""),
            "start_time": pd.to_datetime(run.info.start_time, unit="ms"),
            "end_time": pd.to_datetime(run.info.end_time, unit="ms")
            if run.info.end_time else pd.NaT,
        }
        for name in FINAL:
            row[name] = run.data.metrics.get(name, float("nan"))
        if role == "dense" and "sparsity" not in run.data.metrics:
            row["sparsity"] = 0.0
        row["execution"] = execution_kind(role, row["method"], row["sparsity_target"],
                                          tags.get("model_format"), row)
        row.update({f"param.{k}": v for k, v in run.data.params.items()})
        rows.append(row)
    columns = ["run_id", "sweep", "role", "status", "method", "sparsity_target", "seed"]
    df = pd.DataFrame(rows, columns=None if rows else columns)
    if len(df):
        df = df.sort_values(["role", "method", "sparsity_target", "seed"]).reset_index(drop=True)
    return df
