"""``prune-sweep`` and its commands. User errors: one line on stderr, exit 2."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from collections.abc import Sequence

from tune_app.arguments import check_name, default_name, parse_list
from tune_app.errors import UserError

__all__ = ["build_parser", "check_name", "default_name", "main", "parse_list"]


class _Parser(argparse.ArgumentParser):
    """argparse that reports bad flags in one line (and exit 2) instead of usage + error."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UserError(f"{message} (see {self.prog} --help)")


def build_parser() -> argparse.ArgumentParser:
    """The whole command line, one subparser per command."""
    p = _Parser(prog="prune-sweep", description="Ray Tune sweeps comparing pruning methods, "
                "recorded in MLflow.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = sub.add_parser("run", help="run a sweep (dense baselines, then pruning trials)")
    run.add_argument("--space", default="smoke", help="named space or a YAML file (default smoke)")
    run.add_argument("--name", help="sweep name (default: <space>-<timestamp>)")
    run.add_argument("--dataset", help="cifar10, fashion_mnist or synthetic (overrides the space)")
    run.add_argument("--data-dir", help="data directory (default <runs dir>/data)")
    run.add_argument("--methods", help="comma-separated pruning methods, e.g. magnitude,lottery")
    run.add_argument("--sparsities", help="comma-separated sparsities in (0, 1), e.g. 0.5,0.9")
    run.add_argument("--seeds", help="comma-separated non-negative integer seeds, e.g. 0,1")
    run.add_argument("--method-param", action="append", default=[], metavar="METHOD.KEY=VALUE",
                     help="a method parameter, e.g. imp.rate=0.2 (repeatable; overrides the "
                     "space's method_params)")
    _common(run)
    run.add_argument("--storage", help="shared storage for checkpoints and the dense cache: a "
                     "directory every node mounts, s3://BUCKET/prefix or gs://BUCKET/prefix "
                     "(default <runs dir>/storage)")
    run.add_argument("--address", help="existing Ray cluster (auto, HOST:PORT or ray://...)")
    run.add_argument("--cpus-per-trial", type=float, default=1.0, help="CPUs per trial (default 1)")
    run.add_argument("--gpus-per-trial", type=float, default=None,
                     help="GPUs per trial, fractions allowed (default 1 if the cluster has GPUs)")
    run.add_argument("--max-concurrent", type=int, default=None, help="cap on parallel trials")
    run.add_argument("--max-failures", type=int, default=2,
                     help="retries per trial from its last checkpoint (default 2)")
    run.add_argument("--no-download", action="store_true", help="never download data sets")
    run.add_argument("--hparams", metavar="SEARCH_SWEEP",
                     help="fine-tune with the best values found by a search sweep")
    run.add_argument("--dry-run", action="store_true", help="print the trial table, run nothing")

    resume = sub.add_parser("resume", help="continue an interrupted sweep (finished trials are "
                            "kept, the rest continue from their checkpoints)")
    resume.add_argument("sweep")
    _common(resume)
    resume.add_argument("--address", help="Ray cluster to resume on (default: as recorded)")
    resume.add_argument("--max-failures", type=int, default=None,
                        help="retries per trial (default: as recorded)")

    status = sub.add_parser("status", help="progress of a sweep, from MLflow")
    status.add_argument("sweep")
    _common(status)

    analyze = sub.add_parser("analyze", help="tables, plots and a report from a sweep's runs")
    analyze.add_argument("sweep")
    analyze.add_argument("--out", help="output directory (default <runs dir>/reports/<sweep>)")
    analyze.add_argument("--compare", nargs="*", default=[], help="other sweeps to compare")
    _common(analyze)

    analyze.add_argument("--measurement", metavar="SET",
                         help="latencies from this measurement set (`prune-sweep measure` "
                         "names it; `latest` for the newest) instead of the sweep's own")

    measure = sub.add_parser("measure", help="time a finished sweep's saved models again on "
                             "this machine, as a new measurement set")
    measure.add_argument("sweep")
    measure.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    measure.add_argument("--threads", type=int, default=None,
                         help="CPU threads (default: the sweep's measure.threads; 0 is every "
                         "core of this machine)")
    measure.add_argument("--blocks", type=int, default=None,
                         help="timing blocks per model (default: the space's, 5)")
    measure.add_argument("--repeats", type=int, default=None,
                         help="forwards per block (default: the space's, 10)")
    measure.add_argument("--storage", help="shared storage holding the dense cache (default: "
                         "as recorded for the sweep)")
    _common(measure)

    ui = sub.add_parser(
        "ui", help="MLflow UI for the runs directory, on 127.0.0.1",
        description="Start the MLflow UI for the runs directory's store in the background "
        "(one worker, no job runner; its output in <runs dir>/ui.log), say when the page "
        "answers and print each sweep's Trials link. Ctrl-C or SIGTERM stops it (exit 0); "
        "a taken port, or a UI that exits or does not answer within 180 s, is one line and "
        "exit 2.")
    _common(ui)
    ui.add_argument("--host", default="127.0.0.1",
                    help="address to bind (default 127.0.0.1; 0.0.0.0 is linked as 127.0.0.1)")
    ui.add_argument("--port", type=int, default=5000, help="port (default 5000)")

    server = sub.add_parser("server", help="start an MLflow tracking server (sqlite backend, "
                            "served artifacts) for multi-node sweeps")
    server.add_argument("--host", default="127.0.0.1",
                        help="address to bind (default 127.0.0.1; a cluster head's private IP)")
    server.add_argument("--port", type=int, default=5000)
    server.add_argument("--runs-dir", help="where the store lives (default ./runs)")
    server.add_argument("--artifacts-destination",
                        help="artifact store the server proxies (default <runs dir>/mlartifacts; "
                        "s3://... works)")
    server.add_argument("--workers", type=int, default=2, help="server worker processes")

    submit = sub.add_parser("submit", help="submit a sweep as a Ray Job to a cluster")
    submit.add_argument("--address", required=True,
                        help="the cluster's job server, e.g. http://HEAD:8265")
    _timeout(submit)
    submit.add_argument("rest", nargs=argparse.REMAINDER,
                        help="-- followed by a prune-sweep command, e.g. -- run --space paper")

    from tune_app.commands.sensitivity import add_parser as add_sensitivity

    add_sensitivity(sub, _common)

    spaces = sub.add_parser("spaces", help="list the named search spaces")
    spaces.add_argument("--show", metavar="NAME", help="print one space fully resolved")
    return p


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--runs-dir", help="where everything is written (default ./runs or "
                   "$PRUNE_SWEEP_HOME)")
    p.add_argument("--mlflow-uri", help="MLflow tracking URI (default "
                   "$MLFLOW_TRACKING_URI, else sqlite:///<runs dir>/mlflow.db)")
    _timeout(p)


def _timeout(p: argparse.ArgumentParser) -> None:
    p.add_argument("--connect-timeout", type=float, metavar="SECONDS",
                   help="give up on an unreachable Ray cluster, MLflow server, storage or job "
                   "server after this long (default 30, or $PRUNE_SWEEP_CONNECT_TIMEOUT_S)")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code."""
    # MLflow announces at INFO level every time it creates or checks an sqlite store's
    # tables; a driver's terminal is for the sweep's own lines.
    logging.getLogger("mlflow.store.db.utils").setLevel(logging.WARNING)
    try:
        args = build_parser().parse_args(argv)
        if hasattr(args, "connect_timeout"):
            from tune_app.waits import connect_timeout

            args.timeout_s = connect_timeout(args.connect_timeout)
        if args.command in ("run", "resume"):
            # SIGTERM (a scheduler, `kill`) stops a sweep the way Ctrl-C does: resumably.
            from tune_app.interrupt import forward_sigterm, quiet_tune_interrupt_messages

            signal.signal(signal.SIGTERM, forward_sigterm)
            quiet_tune_interrupt_messages()
        return _dispatch(args)
    except UserError as exc:
        print(f"prune-sweep: error: {exc}", file=sys.stderr, flush=True)
        return 2
    except KeyboardInterrupt:
        print("prune-sweep: interrupted", file=sys.stderr, flush=True)
        return 130
    except BrokenPipeError:
        # The reader went away (`prune-sweep spaces --show X | head`): nothing more to say.
        # Python would report the failed flush at exit; point stdout at /dev/null first.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _dispatch(args: argparse.Namespace) -> int:
    """The command's module (``tune_app.commands.<command>``), imported only when it runs."""
    if args.command == "run":
        from tune_app.commands.run import run_command

        return run_command(args)
    if args.command == "resume":
        from tune_app.commands.resume import resume_command

        return resume_command(args)
    if args.command == "status":
        from tune_app.commands.status import status_command

        return status_command(args)
    if args.command == "analyze":
        from tune_app.commands.analyze import analyze_command

        return analyze_command(args)
    if args.command == "measure":
        from tune_app.commands.measure import measure_command

        return measure_command(args)
    if args.command == "server":
        from tune_app.commands.server import server_command

        return server_command(args)
    if args.command == "submit":
        from tune_app.commands.submit import submit_command

        return submit_command(args)
    if args.command == "sensitivity":
        from tune_app.commands.sensitivity import sensitivity_command

        return sensitivity_command(args)
    if args.command == "ui":
        from tune_app.commands.ui import ui_command

        return ui_command(args)
    from tune_app.commands.spaces import spaces_command

    return spaces_command(args)
