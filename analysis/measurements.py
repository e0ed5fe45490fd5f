"""Measurement sets: the sweep's own timing (on its trial runs) or a later one recorded by
``prune-sweep measure`` (a ``role=measurement`` run with ``measurements.csv``)."""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import pandas as pd
from mlflow import MlflowClient

from pruning.schema import TIMED

SWEEP_SET = "sweep"  # the set the sweep's own stage takes; its figures are on the trial runs

# The null test (dense vs a copy of itself) must read 1.00 within this fraction, its median and
# its whole spread over blocks at batch 1; past it, timings on that machine are not trusted.
NULL_TOLERANCE = 0.05
UNRELIABLE = "timings unreliable on this machine"


class MeasurementSetError(LookupError):
    """No measurement set of that name in the sweep."""


def null_reliable(null: dict[str, float]) -> bool:
    """Whether the batch-1 null test (``null_ratio_b1`` with ``_min`` / ``_max``) lies within
    1.00 ± ``NULL_TOLERANCE``: min >= 0.95, max <= 1.05 and the median between. False when
    there is no null test (NaN)."""
    values = [null.get(f"null_ratio_b1{s}", math.nan) for s in ("", "_min", "_max")]
    return all(1 - NULL_TOLERANCE <= v <= 1 + NULL_TOLERANCE for v in values)


def null_text(null: dict[str, float]) -> str:
    """The null test in words: ``1.003x at batch 1, spread 0.990-1.012``, flagged as
    unreliable (``UNRELIABLE``) when it strays past 1.00 ± 5%."""
    b1 = null.get("null_ratio_b1", math.nan)
    lo, hi = null.get("null_ratio_b1_min", math.nan), null.get("null_ratio_b1_max", math.nan)
    text = f"{b1:.3f}x at batch 1, spread {lo:.3f}-{hi:.3f}"
    if not null_reliable(null):
        text += (f"; {UNRELIABLE} (the null test should read 1.00 within "
                 f"±{100 * NULL_TOLERANCE:.0f}%, median and spread)")
    return text


def load_text(figures: dict[str, float]) -> str:
    """The machine's load while timing, as recorded with a measurement set
    (``trainables.measurement.machine_load``): the 1-minute load average before and after, on
    how many cores, and how much CPU other processes used meanwhile."""
    cores = figures.get("load_cores", math.nan)
    if math.isnan(cores):
        return "machine load not recorded"
    before = figures.get("load_avg_1m_before", math.nan)
    after = figures.get("load_avg_1m_after", math.nan)
    other = figures.get("load_other_cores", math.nan)
    text = (f"load average {before:.2f} before / {after:.2f} after timing on {cores:.0f} "
            f"core(s)")
    if not math.isnan(other):
        text += f", other processes busy on {other:.2f} of them while timing"
    return text


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
        """One line for the report: set, hardware, threads, the machine's load as measured
        while timing, and the null test (flagged when it strays past 1.00 ± 5%)."""
        return (f"from measurement set `{self.name}` on {self.device} ({self.hardware}), "
                f"{self.threads} thread(s); {load_text(self.null)}; null test (dense vs a copy "
                f"of itself) {null_text(self.null)}")

    @property
    def null_band(self) -> tuple[float, float]:
        """(min, max) of the batch-1 null test over blocks; NaN when not recorded."""
        return (self.null.get("null_ratio_b1_min", math.nan),
                self.null.get("null_ratio_b1_max", math.nan))


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
