"""``prune-sweep analyze``: build the report and say where it went."""

from __future__ import annotations

from pathlib import Path

from analysis.report import build_report


def run_analyze(sweep: str, tracking_uri: str, reports_root: Path, out: Path | None,
                compare: list[str], measurement: str | None = None) -> int:
    """Build the report of ``sweep`` into ``out`` (default ``reports_root/sweep``), with the
    latencies of measurement set ``measurement`` (default: the sweep's own)."""
    out_dir = out or reports_root / sweep
    print(f"analyzing sweep {sweep} from {tracking_uri} ...", flush=True)
    result = build_report(sweep, tracking_uri, out_dir, compare, measurement)
    print(f"{result.n_trials} trial run(s), {result.n_failed} failed, "
          f"{len(result.missing)} missing cell(s)")
    print(f"report: {out_dir / 'report.md'}")
    print(f"files:  {', '.join(p.name for p in result.files)}")
    print(f"MLflow analysis run: {result.analysis_run_id}", flush=True)
    return 0
