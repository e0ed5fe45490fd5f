"""Measurement sets: the sweep's own timing (on its trial runs) or a later one recorded by
``prune-sweep measure`` (a ``role=measurement`` run with ``measurements.csv``)."""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import pandas as pd
from mlflow import MlflowClient

SWEEP_SET = "sweep"  # the set the sweep's own stage takes; its figures are on the trial runs
TIMED = ("latency_ms_b1", "latency_ms_b1_spread", "latency_ms_b1_dense", "speedup_b1",
         "speedup_b1_min", "speedup_b1_max", "throughput", "throughput_spread",
         "throughput_dense", "speedup_throughput", "speedup_throughput_min",
         "speedup_throughput_max", "latency_ms_b1_sparse", "throughput_sparse",
         "sparse_ratio_b1", "sparse_ratio_throughput", "speedup_sparse",
         "speedup_sparse_throughput")


class MeasurementSetError(LookupError):
    """No measurement set of that name in the sweep."""


@dataclass(frozen=True)
class MeasurementSet:
    """Where and how one set of timings was taken."""

    name: str
    run_id: str
    hardware: str
    device: str
    threads: str
    null: dict[str, float]

    def describe(self) -> str:
        """One line for the report: set, hardware, threads and the null test."""
        b1 = self.null.get("null_ratio_b1", math.nan)
        lo, hi = self.null.get("null_ratio_b1_min", math.nan), self.null.get(
            "null_ratio_b1_max", math.nan)
        return (f"from measurement set `{self.name}` on {self.device} ({self.hardware}), "
                f"{self.threads} thread(s), nothing else running on those cores; null test "
                f"(dense vs a copy of itself) {b1:.3f}x at batch 1, spread {lo:.3f}-{hi:.3f}")


def find_set(client: MlflowClient, sweep: str, name: str | None) -> MeasurementSet | None:
    """The set called ``name`` (``latest``: the newest; None: the sweep's own, if taken)."""
    exp = client.get_experiment_by_name(sweep)
    if exp is None:
        return None
    runs = client.search_runs([exp.experiment_id], "tags.role = 'measurement'",
                              order_by=["attributes.start_time DESC"], max_results=1000)
    wanted = SWEEP_SET if name is None else name
    chosen = runs[:1] if wanted == "latest" else [
        r for r in runs if r.data.tags.get("measurement_set") == wanted][:1]
    if not chosen:
        if name is None:
            return None
        known = ", ".join(r.data.tags.get("measurement_set", "?") for r in runs) or "none"
        raise MeasurementSetError(f"sweep {sweep!r} has no measurement set {name!r} "
                                  f"(known: {known})")
    run = chosen[0]
    tags = run.data.tags
    return MeasurementSet(tags.get("measurement_set", "?"), run.info.run_id,
                          tags.get("hardware", "n/a"), tags.get("device", "n/a"),
                          tags.get("threads", "n/a"), dict(run.data.metrics))


def apply_set(df: pd.DataFrame, client: MlflowClient, sweep: str, mset: MeasurementSet
              ) -> pd.DataFrame:
    """``df`` with the timed columns of ``sweep``'s runs replaced by the set's figures (trials
    the set did not time keep none); counted columns and other sweeps' rows are untouched. The
    sweep's own set is on its trial runs already."""
    if mset.name == SWEEP_SET:
        return df
    text = client.download_artifacts(mset.run_id, "measurements.csv")
    with open(text) as f:
        table = pd.read_csv(io.StringIO(f.read()))
    out = df.copy()
    timed = table.set_index("run_id")
    mine = out["run_id"].isin(timed.index) | (out["sweep"] == sweep)
    for column in TIMED:
        values = timed[column] if column in timed else pd.Series(dtype=float)
        if column not in out:
            out[column] = math.nan
        out.loc[mine, column] = out.loc[mine, "run_id"].map(values).astype(float)
    return out
