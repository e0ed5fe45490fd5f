"""``prune-sweep analyze``: tables, plots and a report from a sweep's MLflow runs.

Works from what the tracking store holds (a copied ``mlflow.db``, a tracking server), on a
read-only runs dir or database copy (with ``--out``), and says in the report when a live driver
is still running the sweep. It does not take the sweep's lease."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from tune_app.arguments import check_name
from tune_app.commands import options_from
from tune_app.errors import UserError
from tune_app.options import AnalyzeOptions
from tune_app.paths import layout
from tune_app.store_peek import SweepPeek, peek
from tune_app.sweep_lookup import driver_line, known_sweep_uri


def analyze_command(args: argparse.Namespace) -> int:
    """Build the sweep's report from its MLflow runs."""
    from analysis.command import run_analyze
    from analysis.load import SweepNotFoundError
    from analysis.stats import DuplicateSeedError

    opts = options_from(AnalyzeOptions, args)
    names = [opts.sweep, *opts.compare]
    for name in names:
        check_name(name, what=f"sweep {name!r}")
    if len(set(names)) != len(names):
        raise UserError(f"--compare: each sweep once, got {' '.join(names)}")
    paths = layout(opts.runs_dir, create=False)
    uri = known_sweep_uri(opts.sweep, opts.mlflow_uri, paths, opts.timeout_s)
    out = Path(opts.out).resolve() if opts.out else paths.reports_dir / opts.sweep
    _check_out(out, bool(opts.out))
    from tune_app.tracking import store_writable

    seen = peek(uri, opts.sweep, opts.timeout_s)
    partial = _partial(seen)
    writable = store_writable(uri)
    try:
        return run_analyze(opts.sweep, uri, paths.reports_dir, out, list(opts.compare),
                           opts.measurement, partial=partial, log_run=writable)
    except (SweepNotFoundError, DuplicateSeedError) as exc:
        raise UserError(str(exc).splitlines()[0]) from None


def _partial(seen: SweepPeek | None) -> str | None:
    """The sentence a report built while the sweep runs opens with; None when no driver is
    live."""
    driver = driver_line(seen)
    if driver is None or seen is None:
        return None
    done = seen.trials.get("FINISHED", 0)
    return (f"built while the sweep was still running ({driver}; {done} trial run(s) "
            "finished so far): cells may be missing and numbers will change")


def _check_out(out: Path, given: bool) -> None:
    """The report directory can be written (a read-only runs dir needs ``--out``)."""
    probe = out
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not os.access(probe, os.W_OK):
        hint = "" if given else "; write the report elsewhere with --out DIR"
        raise UserError(f"cannot write the report to {out}: {probe} is not writable{hint}")
