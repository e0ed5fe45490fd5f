"""``prune-sweep analyze``: build the report and say where it went."""

from __future__ import annotations

from pathlib import Path

from analysis.report import build_report


def run_analyze(sweep: str, tracking_uri: str, reports_root: Path, out: Path | None,
                compare: list[str], measurement: str | None = None,
                partial: str | None = None, log_run: bool = True) -> int:
    """Build the report of ``sweep`` into ``out`` (default ``reports_root/sweep``), with the
    latencies of measurement set ``measurement`` (default: the sweep's own). ``partial``:
    the sweep is still running (said in the report); ``log_run``: record an analysis run."""
    out_dir = out or reports_root / sweep
    print(f"analyzing sweep {sweep} from {tracking_uri} ...", flush=True)
    if partial:
        print(f"partial report: {partial}", flush=True)
    result = build_report(sweep, tracking_uri, out_dir, compare, measurement, partial, log_run)
    print(f"{result.n_trials} trial run(s), {result.n_failed} failed, "
          f"{len(result.missing)} missing cell(s)")
    print(f"report: {out_dir / 'report.md'}")
    print(f"files:  {', '.join(p.name for p in result.files)}")
    if result.analysis_run_id:
        print(f"MLflow analysis run: {result.analysis_run_id}", flush=True)
    else:
        print("MLflow analysis run: not recorded (the tracking store is read-only)", flush=True)
    return 0
