"""``prune-sweep submit``: a ``prune-sweep`` command as a Ray Job on a cluster."""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

from tune_app.commands import options_from
from tune_app.errors import UserError
from tune_app.options import SubmitOptions
from tune_app.waits import bounded, check_tcp

REPO = Path(__file__).resolve().parents[2]
# What a Ray Job's working directory must not carry: environments, data, outputs, caches.
SUBMIT_EXCLUDES = [".venv/", ".tools/", "runs/", "data/", ".git/", "**/__pycache__/",
                   ".pytest_cache/", ".ruff_cache/", "*.pt"]


def submit_command(args: argparse.Namespace) -> int:
    """Submit ``prune-sweep <args>`` as a Ray Job, shipping this checkout as working dir."""
    opts = options_from(SubmitOptions, args)
    rest = list(opts.rest)
    if rest and rest[0] == "--":
        rest = rest[1:]
    if not rest or rest[0] not in ("run", "resume", "analyze", "status"):
        raise UserError("submit: give the command to run after '--', e.g. "
                        "prune-sweep submit --address http://HEAD:8265 -- run --space paper")
    timeout_s = opts.timeout_s
    check_tcp(opts.address, 8265, "the Ray job server", timeout_s)
    from ray.job_submission import JobSubmissionClient

    entrypoint = "python -m tune_app " + " ".join(shlex.quote(a) for a in rest)
    runtime_env = {"working_dir": str(REPO), "excludes": SUBMIT_EXCLUDES}
    what = f"the Ray job server at {opts.address}"
    try:
        client = bounded(lambda: JobSubmissionClient(opts.address), what, timeout_s)
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
    print(f"follow its logs: ray job logs --address {opts.address} --follow {job_id}")
    print(f"stop it:         ray job stop --address {opts.address} {job_id}", flush=True)
    return 0
