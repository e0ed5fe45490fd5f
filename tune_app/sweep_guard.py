"""What a driver checks before it touches a sweep, and how it claims it.

The quick checks (``refuse_if_driven``, ``check_new_name``) read the store without importing
MLflow, so that a second driver of a live sweep, or a reused name, is refused within about a
second, before Ray, torch or any data is touched. ``claim`` then takes the lease for real (a
compare-and-set in the store, see ``tune_app.lease``): two drivers that both passed the quick
check at the same moment still end with exactly one of them running."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tune_app.errors import UserError
from tune_app.invocation import hint
from tune_app.lease import HeldLease, LeaseHeldError, acquire, held_error, live_owner
from tune_app.store_peek import SweepPeek, peek
from tune_app.tracking import sweep_runs

if TYPE_CHECKING:
    from mlflow import MlflowClient


def status_hint(sweep: str, runs_dir: object) -> str:
    """The command that shows a sweep's progress, ready to paste."""
    return hint("status", sweep, "--runs-dir", str(runs_dir))


def refuse_if_driven(uri: str, sweep: str, runs_dir: object, timeout_s: float
                     ) -> SweepPeek | None:
    """Refuse (one line, exit 2) when a live driver holds ``sweep``; returns what the quick
    look saw (None for stores it cannot read quickly: ``claim`` still checks those)."""
    seen = peek(uri, sweep, timeout_s)
    if seen is not None and seen.sweep_run_id:
        owner = live_owner(seen.params, seen.tags)
        if owner is not None:
            raise held_error(sweep, owner, status_hint(sweep, runs_dir))
    return seen


def check_new_name(uri: str, sweep: str, runs_dir: object, timeout_s: float) -> None:
    """``run --name``: refuse a sweep name that is running or has results in this store."""
    seen = refuse_if_driven(uri, sweep, runs_dir, timeout_s)
    if seen is not None and seen.has_results:
        raise name_used(sweep, uri, runs_dir, seen)


def name_used(sweep: str, uri: str, runs_dir: object, seen: SweepPeek | None = None
              ) -> UserError:
    """The error for ``run`` with a name whose sweep already has results."""
    what = ""
    if seen is not None:
        n = sum(seen.trials.values())
        what = f" ({n} trial run(s), {seen.trials.get('FINISHED', 0)} finished)"
    return UserError(f"sweep name {sweep!r} is already used in {uri}{what}; continue that sweep "
                     f"with `{hint('resume', sweep, '--runs-dir', str(runs_dir))}` or pick "
                     "another --name")


def claim(client: MlflowClient, experiment_id: str, parent_run_id: str, created: bool,
          sweep: str, command: str, runs_dir: object) -> HeldLease:
    """Take the lease of ``sweep`` on its parent run. ``created``: this driver made that parent
    run just now, in which case a second sweep run made at the same moment by another driver
    means the two raced; the one that sees the other's run yields (both may, never neither)."""
    status = status_hint(sweep, runs_dir)
    lease = acquire(client, parent_run_id, sweep, command, status,
                    say=lambda line: print(line, flush=True))
    if created:
        others = [r for r in sweep_runs(client, experiment_id)
                  if r.info.run_id != parent_run_id]
        if others:
            lease.release()
            client.delete_run(parent_run_id)
            run = client.get_run(others[0].info.run_id)
            from tune_app.lease import LeaseState

            owner = LeaseState.read(run.data.params, run.data.tags).owner
            raise held_error(sweep, owner, status)
    return lease


__all__ = ["LeaseHeldError", "check_new_name", "claim", "name_used", "refuse_if_driven",
           "status_hint"]
