"""``prune-sweep server``: an MLflow tracking server (sqlite backend, served artifacts) for
multi-node sweeps."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from tune_app.commands import options_from
from tune_app.errors import UserError
from tune_app.options import ServerOptions
from tune_app.paths import layout
from tune_app.waits import check_port_free


def server_argv(host: str, port: int, runs_dir: Path, artifacts: str | None, workers: int
                ) -> list[str]:
    """The ``mlflow server`` command line: sqlite backend under the runs dir, served artifacts."""
    return [
        sys.executable, "-m", "mlflow", "server",
        "--backend-store-uri", f"sqlite:///{runs_dir / 'mlflow.db'}",
        "--serve-artifacts",
        "--artifacts-destination", artifacts or (runs_dir / "mlartifacts").as_uri(),
        "--host", host, "--port", str(port), "--workers", str(workers),
    ]


def server_command(args: argparse.Namespace) -> int:
    """Replace this process with an MLflow tracking server (Ctrl-C stops it)."""
    opts = options_from(ServerOptions, args)
    check_port_free(opts.host, opts.port)
    if opts.workers < 1:
        raise UserError("--workers must be at least 1")
    paths = layout(opts.runs_dir, create=True)
    argv = server_argv(opts.host, opts.port, paths.runs_dir, opts.artifacts_destination,
                       opts.workers)
    print(f"MLflow tracking server on http://{opts.host}:{opts.port} "
          f"(store {paths.runs_dir / 'mlflow.db'}); point sweeps at it with "
          f"--mlflow-uri http://{opts.host}:{opts.port}", flush=True)
    os.execv(sys.executable, argv)
    return 0  # not reached
