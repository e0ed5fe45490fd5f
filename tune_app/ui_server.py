"""The MLflow UI for a runs directory, as a quiet child process (``prune-sweep ui``).

``mlflow ui`` is started in its own session (the terminal's Ctrl-C reaches this process only)
with one uvicorn worker and without MLflow's job runner (its huey consumers serve GenAI jobs a
local viewer never queues), its output in ``<runs dir>/ui.log``. This process says when the page
actually answers, lists the Trials link of every sweep in the store, and on Ctrl-C or SIGTERM
stops the server's whole process group and says so in one line.

Signals only set a flag: every wait here is a short poll, so nothing is interrupted half-way
and no traceback reaches the terminal."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from tune_app.errors import UserError
from tune_app.options import UiOptions

READY_S = 180.0  # mlflow ui takes tens of seconds to import on a busy 2-core machine
PROGRESS_S = 15.0  # a line this often while waiting for the page
STOP_S = 10.0  # SIGTERM's grace before SIGKILL
POLL_S = 0.2
LOG_NAME = "ui.log"
MAX_EXPERIMENTS = 1000
# Job execution runs MLflow's huey consumers (seven processes on MLflow 3.17), for GenAI jobs
# (scorers, trace rollups) that a local viewer never queues. Set it yourself to keep them.
NO_JOBS_ENV = "MLFLOW_SERVER_ENABLE_JOB_EXECUTION"


def link_host(host: str) -> str:
    """The host to put in a link: a wildcard bind is reached on loopback."""
    if host in ("0.0.0.0", ""):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def server_argv(uri: str, host: str, port: int, runs_dir: Path) -> list[str]:
    """``mlflow ui`` on the store (artifacts beside a sqlite store), one worker."""
    argv = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri,
            "--host", host, "--port", str(port), "--workers", "1"]
    if uri.startswith("sqlite:"):
        argv += ["--default-artifact-root", (runs_dir / "mlartifacts").as_uri()]
    return argv


def server_env() -> dict[str, str]:
    """The server's environment: unbuffered output for the log, no job runner (unless set)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.setdefault(NO_JOBS_ENV, "false")
    return env


class _Signals:
    """SIGINT and SIGTERM set ``stop``; the previous handlers come back on exit."""

    def __init__(self) -> None:
        self.stop = False
        self._old: dict[int, Any] = {}

    def _handle(self, signum: int, frame: object) -> None:
        self.stop = True

    def __enter__(self) -> _Signals:
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


def serve(opts: UiOptions) -> int:
    """Serve the store until Ctrl-C or SIGTERM; 0 then, 2 (one line) when the UI cannot start."""
    from tune_app.paths import layout
    from tune_app.tracking import resolve_tracking_uri
    from tune_app.waits import check_port_free

    check_port_free(opts.host, opts.port)
    paths = layout(opts.runs_dir, create=True)
    uri = resolve_tracking_uri(opts.mlflow_uri, paths.runs_dir)
    if uri.startswith(("http://", "https://")):
        raise UserError(f"{uri} is a tracking server: its sweeps are in its own UI, open {uri} "
                        "(prune-sweep ui serves a database store, e.g. the runs dir's mlflow.db)")
    log = paths.runs_dir / LOG_NAME
    url = f"http://{link_host(opts.host)}:{opts.port}"
    timeout_s = opts.timeout_s
    with _Signals() as signals:
        print(f"starting the MLflow UI for {uri} ...", flush=True)
        proc = _spawn(server_argv(uri, opts.host, opts.port, paths.runs_dir), server_env(), log,
                      opts.port)
        try:
            sweeps = _SweepLister(uri, url, timeout_s)
            if not _wait_ready(proc, url, log, signals):
                return _stopped(proc)
            print(f"MLflow UI ready at {url} (Ctrl-C stops it)", flush=True)
            sweeps.ready = True
            sweeps.report(signals)
            while proc.poll() is None and not signals.stop:
                time.sleep(POLL_S)
            if signals.stop:
                return _stopped(proc)
            raise UserError(f"the MLflow UI exited with code {proc.returncode}; see {log}"
                            f"{_last_line(log)}")
        finally:
            stop_group(proc)


def _spawn(argv: list[str], env: dict[str, str], log: Path, port: int) -> subprocess.Popen:
    """The server in a new session (its own process group), output appended to ``log``."""
    try:
        out = log.open("ab")
    except OSError as exc:
        raise UserError(f"cannot write the UI's log {log}: {exc.strerror or exc}") from None
    with out:
        out.write(f"\n=== prune-sweep ui, {time.strftime('%Y-%m-%d %H:%M:%S')}, port {port}: "
                  f"{' '.join(argv)}\n".encode())
        out.flush()
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out, env=env,
                                start_new_session=True, preexec_fn=_die_with_parent())


def _die_with_parent() -> Any:
    """On Linux, SIGTERM the server if this process dies without stopping it (SIGKILL): the
    ``mlflow ui`` process forwards it to uvicorn. None elsewhere."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    pr_set_pdeathsig = 1

    def preexec() -> None:
        prctl(pr_set_pdeathsig, int(signal.SIGTERM))

    return preexec


def _wait_ready(proc: subprocess.Popen, url: str, log: Path, signals: _Signals) -> bool:
    """True once ``/health`` and the root page answer 200; False on a signal; UserError when
    the server exits or does not answer within READY_S."""
    start = time.monotonic()
    next_note = start + PROGRESS_S
    while not signals.stop:
        if _answers(f"{url}/health") and _answers(f"{url}/"):
            return True
        if proc.poll() is not None:
            raise UserError(f"the MLflow UI exited with code {proc.returncode} before it "
                            f"answered; see {log}{_last_line(log)}")
        now = time.monotonic()
        if now - start > READY_S:
            raise UserError(f"the MLflow UI did not answer at {url} within {READY_S:g}s; "
                            f"see {log}")
        if now >= next_note:
            print(f"  still starting ({now - start:.0f}s) ...", flush=True)
            next_note += PROGRESS_S
        time.sleep(POLL_S)
    return False


# Straight to the server: a proxy from the environment must not answer for 127.0.0.1.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _answers(url: str) -> bool:
    try:
        with _OPENER.open(url, timeout=2) as resp:
            return resp.status == 200
    except (OSError, ValueError):
        return False


def _last_line(log: Path) -> str:
    """`` (last line: ...)`` of the log, for an error message; empty if unreadable."""
    try:
        with log.open("rb") as f:
            f.seek(max(0, log.stat().st_size - 4096))
            lines = [ln.strip() for ln in f.read().decode(errors="replace").splitlines()]
    except OSError:
        return ""
    lines = [ln for ln in lines if ln and not ln.startswith("=== prune-sweep ui")]
    return f" (last line: {lines[-1][:200]})" if lines else ""


def _stopped(proc: subprocess.Popen) -> int:
    stop_group(proc)
    print("MLflow UI stopped", flush=True)
    return 0


def stop_group(proc: subprocess.Popen, grace_s: float = STOP_S) -> None:
    """SIGTERM the server's process group, SIGKILL whatever is left after ``grace_s``."""
    if proc.returncode is not None and not _group_alive(proc.pid):
        return
    _signal_group(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        # ``mlflow ui`` exits once uvicorn has: the group is empty then (but for stragglers).
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    _signal_group(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=grace_s)


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


class _SweepLister:
    """The store's sweeps, found in a thread: MLflow's import overlaps the server's start, the
    queries wait until the server has created (or migrated) the store."""

    def __init__(self, uri: str, url: str, timeout_s: float) -> None:
        self.uri, self.url, self.timeout_s = uri, url, timeout_s
        self.ready = False
        self._result: list[tuple[bool, Any]] = []
        threading.Thread(target=self._run, daemon=True, name="ui: list sweeps").start()

    def _run(self) -> None:
        try:
            # Seconds of imports, safe before the server has set up the store (opening the
            # store is not: it would create the tables of a new one, racing the server).
            import mlflow.store.tracking.sqlalchemy_store  # noqa: F401
            from mlflow import MlflowClient

            while not self.ready:
                time.sleep(0.1)
            self._result.append((True, sweep_experiments(MlflowClient(tracking_uri=self.uri))))
        except Exception as exc:  # noqa: BLE001 - reported in one line, the UI keeps running
            self._result.append((False, exc))

    def report(self, signals: _Signals) -> None:
        """One line per sweep with its Trials link, within ``timeout_s``."""
        from tune_app.tracking import experiment_page_url

        deadline = time.monotonic() + self.timeout_s
        while not self._result and not signals.stop and time.monotonic() < deadline:
            time.sleep(0.1)
        if signals.stop:
            return
        if not self._result:
            print(f"  (sweeps not listed: no answer from the store within {self.timeout_s:g}s)",
                  flush=True)
            return
        ok, value = self._result[0]
        if not ok:
            first = (str(value).strip().splitlines() or [type(value).__name__])[0]
            print(f"  (sweeps not listed: {first[:200]})", flush=True)
        elif not value:
            print("no sweeps in this store yet", flush=True)
        else:
            print("sweeps (their trials, in the Trials view):")
            for name, experiment_id in value:
                print(f"  {name}: {experiment_page_url(self.url, experiment_id)}")
            sys.stdout.flush()


def sweep_experiments(client: Any) -> list[tuple[str, str]]:
    """(name, experiment id) of every active experiment holding a run tagged ``role=sweep``,
    oldest first."""
    experiments = client.search_experiments(max_results=MAX_EXPERIMENTS)
    if not experiments:
        return []
    names = {e.experiment_id: e.name for e in experiments}
    runs = client.search_runs(list(names), filter_string="tags.role = 'sweep'",
                              max_results=MAX_EXPERIMENTS)
    found = {r.info.experiment_id for r in runs}
    return sorted(((names[i], i) for i in found),
                  key=lambda item: (int(item[1]) if item[1].isdigit() else sys.maxsize, item[1]))
