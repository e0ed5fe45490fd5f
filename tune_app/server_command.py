"""``prune-sweep server`` (an MLflow tracking server) and ``prune-sweep submit`` (a Ray Job)."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path

from tune_app.errors import UserError
from tune_app.paths import layout
from tune_app.waits import bounded, check_port_free, check_tcp

REPO = Path(__file__).resolve().parents[1]
# What a Ray Job's working directory must not carry: environments, data, outputs, caches.
SUBMIT_EXCLUDES = [".venv/", ".tools/", "runs/", "data/", ".git/", "**/__pycache__/",
                   ".pytest_cache/", ".ruff_cache/", "*.pt"]


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
    check_port_free(args.host, args.port)
    if args.workers < 1:
        raise UserError("--workers must be at least 1")
    paths = layout(args.runs_dir, create=True)
    argv = server_argv(args.host, args.port, paths.runs_dir, args.artifacts_destination,
                       args.workers)
    print(f"MLflow tracking server on http://{args.host}:{args.port} "
          f"(store {paths.runs_dir / 'mlflow.db'}); point sweeps at it with "
          f"--mlflow-uri http://{args.host}:{args.port}", flush=True)
    os.execv(sys.executable, argv)
    return 0  # not reached


def submit_command(args: argparse.Namespace) -> int:
    """Submit ``prune-sweep <args>`` as a Ray Job, shipping this checkout as working dir."""
    rest = list(args.rest)
    if rest and rest[0] == "--":
        rest = rest[1:]
    if not rest or rest[0] not in ("run", "resume", "analyze", "status"):
        raise UserError("submit: give the command to run after '--', e.g. "
                        "prune-sweep submit --address http://HEAD:8265 -- run --space paper")
    timeout_s = args.timeout_s
    check_tcp(args.address, 8265, "the Ray job server", timeout_s)
    from ray.job_submission import JobSubmissionClient

    entrypoint = "python -m tune_app " + " ".join(shlex.quote(a) for a in rest)
    runtime_env = {"working_dir": str(REPO), "excludes": SUBMIT_EXCLUDES}
    what = f"the Ray job server at {args.address}"
    try:
        client = bounded(lambda: JobSubmissionClient(args.address), what, timeout_s)
        # Uploading the working directory may take a while on a slow link: a longer bound.
        job_id = bounded(lambda: client.submit_job(entrypoint=entrypoint,
                                                   runtime_env=runtime_env),
                         what, max(timeout_s, 300.0))
    except UserError:
        raise
    except Exception as exc:  # noqa: BLE001 - any failure to reach the job server is one line
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"cannot submit to {what}: {first}") from None
    print(f"submitted job {job_id}: {entrypoint}")
    print(f"follow its logs: ray job logs --address {args.address} --follow {job_id}")
    print(f"stop it:         ray job stop --address {args.address} {job_id}", flush=True)
    return 0
