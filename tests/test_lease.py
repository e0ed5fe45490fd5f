"""The sweep lease: its verdicts on numbers, and the compare-and-set on a real MLflow store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from mlflow import MlflowClient

from tune_app.lease import (
    HEARTBEAT_TAG,
    RELEASED_TAG,
    STALE_AFTER_S,
    LeaseHeldError,
    LeaseState,
    Owner,
    acquire,
    pid_alive,
    process_start,
)
from tune_app.store_peek import peek


def _owner(host: str = "h", pid: int = 10, since: float = 1000.0) -> Owner:
    return Owner(host, pid, "77", "run", since)


def _state(owner: Owner, beat: float | None, released: bool = False, g: int = 3) -> LeaseState:
    params = {f"lease.{g}": owner.to_json(), "lease.1": _owner(pid=1).to_json()}
    tags = {HEARTBEAT_TAG: f"{g} {beat}"} if beat is not None else {}
    if released:
        tags[RELEASED_TAG] = str(g)
    return LeaseState.read(params, tags)


def test_read_takes_the_newest_generation_and_its_heartbeat() -> None:
    state = _state(_owner(pid=42), beat=1234.5, g=12)
    assert state.generation == 12 and state.owner is not None and state.owner.pid == 42
    assert state.heartbeat == 1234.5 and not state.released
    # A heartbeat of an older generation says nothing about the newest holder.
    old = LeaseState.read({"lease.2": _owner().to_json()}, {HEARTBEAT_TAG: "1 999"})
    assert old.heartbeat is None
    assert LeaseState.read({}, {}).verdict() == ("free", "")


def test_verdicts() -> None:
    alive = lambda pid, start: True  # noqa: E731
    dead = lambda pid, start: False  # noqa: E731
    live = _state(_owner(host="other"), beat=1000.0)
    assert live.verdict(now=1000.0 + STALE_AFTER_S - 1, host="me", alive=dead)[0] == "live"
    stale, why = live.verdict(now=1000.0 + STALE_AFTER_S + 5, host="me", alive=alive)
    assert stale == "stale" and f"{STALE_AFTER_S + 5:.0f}s" in why
    # Same host: a gone process is stale at once, whatever its heartbeat says.
    same = _state(_owner(host="me"), beat=1000.0)
    assert same.verdict(now=1001.0, host="me", alive=dead) == ("stale", "its process is gone")
    assert same.verdict(now=1001.0, host="me", alive=alive)[0] == "live"
    # No heartbeat yet: counted from when the lease was taken.
    fresh = _state(_owner(host="other", since=500.0), beat=None)
    assert fresh.verdict(now=520.0, host="me")[0] == "live"
    assert fresh.verdict(now=500.0 + STALE_AFTER_S + 1, host="me")[0] == "stale"
    assert _state(_owner(), beat=1000.0, released=True).verdict(now=1001.0)[0] == "free"


def test_pid_alive_tells_a_recycled_pid_from_the_driver() -> None:
    me = os.getpid()
    assert pid_alive(me, process_start(me))
    assert not pid_alive(me, "1")  # same pid, another start time: not the same process
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    assert not pid_alive(proc.pid, "123")


def _store(tmp_path: Path) -> tuple[MlflowClient, str, str, str]:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    exp = client.create_experiment("lease-sweep")
    run = client.create_run(exp, tags={"role": "sweep"}).info.run_id
    return client, uri, exp, run


def test_acquire_refuses_a_live_holder_and_takes_over_a_stale_one(tmp_path: Path) -> None:
    client, uri, _, run = _store(tmp_path)
    held = acquire(client, run, "lease-sweep", "run", "status", say=lambda s: None)
    try:
        with pytest.raises(LeaseHeldError, match=f"pid {os.getpid()}"):
            acquire(client, run, "lease-sweep", "resume", "status", say=lambda s: None)
        seen = peek(uri, "lease-sweep")
        assert seen is not None and seen.sweep_run_id == run
        assert LeaseState.read(seen.params, seen.tags).verdict()[0] == "live"
    finally:
        held.release()
    assert client.get_run(run).data.tags[RELEASED_TAG] == "1"
    again = acquire(client, run, "lease-sweep", "resume", "status", say=lambda s: None)
    again.release()
    # A holder on another host whose heartbeat stopped long ago is taken over, with a line.
    gone = Owner("elsewhere", 1, "", "run", 1000.0)
    client.log_param(run, "lease.3", gone.to_json())
    client.set_tag(run, HEARTBEAT_TAG, "3 1000.0")
    said: list[str] = []
    taken = acquire(client, run, "lease-sweep", "resume", "status", say=said.append)
    taken.release()
    assert taken.generation == 4
    assert len(said) == 1 and "elsewhere" in said[0] and "no heartbeat" in said[0]


def test_exactly_one_of_many_concurrent_acquirers_wins(tmp_path: Path) -> None:
    """Eight threads, each with its own client, race for a stale lease: one holds it."""
    client, uri, _, run = _store(tmp_path)
    client.log_param(run, "lease.1", Owner("elsewhere", 1, "", "run", 0.0).to_json())
    barrier = threading.Barrier(8)
    won: list[int] = []
    refused: list[str] = []

    def contend(i: int) -> None:
        mine = MlflowClient(tracking_uri=uri)
        barrier.wait()
        try:
            lease = acquire(mine, run, "lease-sweep", f"resume-{i}", "status", say=lambda s: None)
            won.append(lease.generation)
        except LeaseHeldError as exc:
            refused.append(str(exc))

    threads = [threading.Thread(target=contend, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert won == [2]
    assert len(refused) == 7
    holder = json.loads(client.get_run(run).data.params["lease.2"])
    assert holder["pid"] == os.getpid()


def test_a_driver_that_fails_after_taking_the_sweep_leaves_nothing_running(
        tmp_path: Path) -> None:
    """An error (or Ctrl-C) between taking the lease and the stages' own handling closes the
    parent run FAILED with the reason; the lease is then released by the caller."""
    from tune_app.execute import _guarded

    client, _, _, run = _store(tmp_path)

    def boom() -> int:
        raise RuntimeError("storage went away\nsecond line")

    with pytest.raises(RuntimeError):
        _guarded(client, run, boom)
    after = client.get_run(run)
    assert after.info.status == "FAILED" and after.data.tags["error"] == "storage went away"

    def interrupted() -> int:
        raise KeyboardInterrupt

    client.update_run(run, status="RUNNING")
    with pytest.raises(KeyboardInterrupt):
        _guarded(client, run, interrupted)
    assert client.get_run(run).data.tags["error"] == "interrupted"
    assert _guarded(client, run, lambda: 7) == 7
