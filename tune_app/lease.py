"""One driver per sweep: a lease on the sweep's parent run in its MLflow store.

Every driver of a sweep (``run``, ``resume``, ``measure``, a submitted Ray Job) opens the
sweep's MLflow experiment anyway, whichever machine it runs on and whatever runs dir or
storage it was given, so the lease lives there, where all of them must look:

* generation ``g`` of the lease is the param ``lease.<g>`` of the sweep's parent run, holding
  its owner (host, pid, the process's start, command, since when) as JSON. MLflow params are
  write-once: a second, different value for the same key is refused by the store's primary key
  (sqlite and PostgreSQL alike, and a tracking server in front of either). Taking the lease is
  therefore a compare-and-set: whoever logs ``lease.<g+1>`` first holds it, the other is told;
* the holder writes the tag ``lease.heartbeat`` (``"<g> <unix time>"``) every
  ``HEARTBEAT_S`` seconds and ``lease.released`` = ``g`` when it exits;
* a lease is free when released, and stale (taken over, with one line saying so) when its
  holder's process is gone on this same host, or its heartbeat is older than ``STALE_AFTER_S``
  (a lost node, a SIGKILL on another machine). Clocks of a cluster's nodes are assumed to
  agree within a few seconds (NTP), far inside that bound;
* a holder whose heartbeat finds a newer generation (it stalled past the bound and was taken
  over) stops at once without touching the sweep's records.

Readers (``status``, ``analyze``) never take the lease; they report it."""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from tune_app.errors import UserError

if TYPE_CHECKING:
    from mlflow import MlflowClient

PARAM_PREFIX = "lease."
HEARTBEAT_TAG = "lease.heartbeat"
RELEASED_TAG = "lease.released"
HEARTBEAT_S = 10.0
STALE_AFTER_S = 60.0


def process_start(pid: int) -> str:
    """A token for when process ``pid`` started (Linux: clock ticks since boot), so that a
    recycled pid is not mistaken for the driver; "" where it cannot be read."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            # The command name (field 2) may hold spaces; fields after its ')' are fixed.
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def pid_alive(pid: int, start: str) -> bool:
    """Whether the process ``pid`` that started at ``start`` still runs on this host."""
    if start and os.path.isdir("/proc"):
        return process_start(pid) == start
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass(frozen=True)
class Owner:
    """Who holds (or held) a sweep's lease."""

    host: str
    pid: int
    start: str
    command: str
    since: float

    @classmethod
    def me(cls, command: str) -> Owner:
        """This process, as an owner."""
        pid = os.getpid()
        return cls(socket.gethostname(), pid, process_start(pid), command, time.time())

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Owner | None:
        try:
            raw = json.loads(text)
            return cls(str(raw["host"]), int(raw["pid"]), str(raw.get("start", "")),
                       str(raw.get("command", "?")), float(raw["since"]))
        except (ValueError, KeyError, TypeError):
            return None

    def describe(self) -> str:
        """``prune-sweep resume on host h, pid 123, since 2026-11-29 19:50:03 UTC``."""
        stamp = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(self.since))
        return f"`{self.command}` on host {self.host}, pid {self.pid}, since {stamp}"


@dataclass(frozen=True)
class LeaseState:
    """A sweep's lease as its parent run's params and tags hold it."""

    generation: int = 0
    owner: Owner | None = None
    heartbeat: float | None = None
    released: bool = True

    @classmethod
    def read(cls, params: dict[str, str], tags: dict[str, str]) -> LeaseState:
        """From the parent run's params (``lease.<g>``) and tags."""
        gens = [int(k[len(PARAM_PREFIX):]) for k in params
                if k.startswith(PARAM_PREFIX) and k[len(PARAM_PREFIX):].isdigit()]
        if not gens:
            return cls()
        g = max(gens)
        beat = None
        g_beat, _, at = tags.get(HEARTBEAT_TAG, "").partition(" ")
        if g_beat == str(g):
            try:
                beat = float(at)
            except ValueError:
                beat = None
        return cls(g, Owner.from_json(params[f"{PARAM_PREFIX}{g}"]), beat,
                   tags.get(RELEASED_TAG) == str(g))

    def verdict(self, now: float | None = None, host: str | None = None,
                alive: Callable[[int, str], bool] = pid_alive) -> tuple[str, str]:
        """("free" | "live" | "stale", why). A lease whose holder shows no heartbeat yet counts
        from when it was taken."""
        if self.released or self.owner is None:
            return "free", ""
        now = time.time() if now is None else now
        host = socket.gethostname() if host is None else host
        if self.owner.host == host and not alive(self.owner.pid, self.owner.start):
            return "stale", "its process is gone"
        last = self.heartbeat if self.heartbeat is not None else self.owner.since
        if now - last > STALE_AFTER_S:
            return "stale", f"no heartbeat for {now - last:.0f}s (bound {STALE_AFTER_S:g}s)"
        return "live", ""


class LeaseHeldError(UserError):
    """Another live driver holds the sweep."""


def held_error(sweep: str, owner: Owner | None, status_hint: str) -> LeaseHeldError:
    """The one line a refused driver prints."""
    who = owner.describe() if owner else "another driver"
    return LeaseHeldError(f"sweep {sweep!r} is being driven by {who}; only one driver may run "
                          f"a sweep at a time (watch it with `{status_hint}`)")


class HeldLease:
    """The lease this process holds: heartbeats in a daemon thread until released."""

    def __init__(self, client: MlflowClient, run_id: str, generation: int, owner: Owner,
                 sweep: str) -> None:
        self.client, self.run_id, self.generation = client, run_id, generation
        self.owner, self.sweep = owner, sweep
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True, name="sweep lease")

    def start(self) -> HeldLease:
        self._write_heartbeat()
        self._thread.start()
        return self

    def _write_heartbeat(self) -> None:
        self.client.set_tag(self.run_id, HEARTBEAT_TAG, f"{self.generation} {time.time():.3f}")

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            try:
                run = self.client.get_run(self.run_id)
                state = LeaseState.read(run.data.params, run.data.tags)
                if state.generation != self.generation:
                    self._lost(state.owner)
                self._write_heartbeat()
            except Exception:  # noqa: BLE001 - a missed beat is retried; staleness needs 6
                continue

    def _lost(self, owner: Owner | None) -> None:
        # Another driver took the sweep over after our heartbeat stalled: anything written
        # from here on would interleave with its records, so stop without cleaning up.
        who = owner.describe() if owner else "another driver"
        print(f"prune-sweep: error: sweep {self.sweep!r} was taken over by {who} after this "
              "driver's heartbeat stalled; stopping", file=sys.stderr, flush=True)
        os._exit(3)

    def release(self) -> None:
        """Stop heartbeating and mark the lease free (idempotent; never raises)."""
        if self._stop.is_set():
            return
        self._stop.set()
        try:
            run = self.client.get_run(self.run_id)
            if LeaseState.read(run.data.params, run.data.tags).generation == self.generation:
                self.client.set_tag(self.run_id, RELEASED_TAG, str(self.generation))
        except Exception:  # noqa: BLE001 - an unreleased lease goes stale on its own
            pass


def acquire(client: MlflowClient, run_id: str, sweep: str, command: str, status_hint: str,
            say: Callable[[str], None] = print) -> HeldLease:
    """Take the sweep's lease on its parent run ``run_id`` or raise ``LeaseHeldError``."""
    from mlflow.exceptions import MlflowException

    run = client.get_run(run_id)
    state = LeaseState.read(run.data.params, run.data.tags)
    verdict, why = state.verdict()
    if verdict == "live":
        raise held_error(sweep, state.owner, status_hint)
    me = Owner.me(command)
    try:
        client.log_param(run_id, f"{PARAM_PREFIX}{state.generation + 1}", me.to_json())
    except MlflowException as exc:
        run = client.get_run(run_id)
        now = LeaseState.read(run.data.params, run.data.tags)
        if now.generation > state.generation:
            # Another driver logged this generation first: it holds the sweep now.
            raise held_error(sweep, now.owner, status_hint) from None
        first = (str(exc).strip().splitlines() or ["no reason given"])[0]
        raise UserError(f"could not take the lease of sweep {sweep!r} in its MLflow store: "
                        f"{first}") from None
    if verdict == "stale" and state.owner is not None:
        say(f"taking over sweep {sweep!r} from {state.owner.describe()}: {why}")
    return HeldLease(client, run_id, state.generation + 1, me, sweep).start()


def live_owner(params: dict[str, str], tags: dict[str, str]) -> Owner | None:
    """The owner of a live lease, None when the sweep has no live driver."""
    state = LeaseState.read(params, tags)
    return state.owner if state.verdict()[0] == "live" else None
