"""``prune-sweep ui``: the real MLflow UI on a small sqlite store, started through the real CLI
on 127.0.0.1: it says "ready" only once the page answers, prints each sweep's Trials link with
the port it serves on, and Ctrl-C stops every process it started with one line, no traceback.

The faster tests below run ``ui`` in-process with a stand-in server (a few lines of
``http.server``) for what happens around the server: a port in use, a server that exits or
never answers, SIGTERM while it starts."""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import REPO, _kill_session
from tune_app import ui_server
from tune_app.cli import main
from tune_app.tracking import experiment_page_url

pytestmark = pytest.mark.e2e

READY_S = 240.0  # a busy 2-core machine: the bound the command has (180 s) plus slack
STOP_S = 20.0
# Straight to 127.0.0.1, whatever proxy the environment names.
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _sweep_store(runs: Path, name: str = "ui-sweep") -> str:
    """A sqlite store with one experiment holding a parent run tagged ``role=sweep`` (and an
    experiment without one, which is no sweep); returns the sweep's experiment id."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{runs / 'mlflow.db'}")
    artifacts = (runs / "mlartifacts").as_uri()
    exp_id = client.create_experiment(name, artifact_location=artifacts)
    run = client.create_run(exp_id, run_name=f"sweep-{name}", tags={"role": "sweep"})
    client.set_terminated(run.info.run_id)
    client.create_experiment("sensitivity-smoke", artifact_location=artifacts)
    return exp_id


def _descendants(pid: int) -> dict[int, tuple[int, str]]:
    """{pid: (session id, command)} of every process below ``pid``."""
    out = subprocess.run(["ps", "-e", "-o", "pid=,ppid=,sid=,args="], capture_output=True,
                         text=True, check=True).stdout
    rows = [line.split(None, 3) for line in out.splitlines()]
    found: dict[int, tuple[int, str]] = {}
    parents = {pid}
    while True:
        new = {int(r[0]): (int(r[2]), r[3] if len(r) > 3 else "") for r in rows
               if int(r[1]) in parents and int(r[0]) not in found}
        if not new:
            return found
        found.update(new)
        parents = set(new)


def _session(sid: int) -> list[str]:
    out = subprocess.run(["ps", "-s", str(sid), "-o", "pid=,args="], capture_output=True,
                         text=True, check=False).stdout
    return [line.strip() for line in out.splitlines() if line.strip()]


def test_ready_when_answering_sweep_links_and_one_line_on_ctrl_c(tmp_path: Path) -> None:
    exp_id = _sweep_store(tmp_path)
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("MLFLOW_TRACKING_URI", None)
    start = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tune_app", "ui", "--runs-dir", str(tmp_path), "--host",
         "127.0.0.1", "--port", str(port)],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )
    lines: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        for line in proc.stdout:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    seen: list[str] = []
    sessions = {proc.pid}

    def next_line(deadline: float) -> str:
        try:
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            pytest.fail("no more output in time; so far:\n" + "\n".join(seen))
        if line is None:
            pytest.fail(f"prune-sweep ui ended ({proc.wait()}):\n" + "\n".join(seen))
        seen.append(line)
        return line

    try:
        deadline = time.monotonic() + READY_S
        assert next_line(deadline).startswith(f"starting the MLflow UI for sqlite:///{tmp_path}")
        while not (line := next_line(deadline)).startswith("MLflow UI ready"):
            assert "still starting" in line, seen
        # The page answers the moment it is announced.
        with OPENER.open(f"{url}/", timeout=10) as resp:
            assert resp.status == 200
        ready_s = time.monotonic() - start
        assert line == f"MLflow UI ready at {url} (Ctrl-C stops it)"

        deadline = time.monotonic() + 60
        while not (line := next_line(deadline)).startswith("  "):
            pass
        assert line == f"  ui-sweep: {experiment_page_url(url, exp_id)}", seen
        assert f"127.0.0.1:{port}/#/experiments/{exp_id}/runs" in line

        # The server runs in a session of its own (the terminal's Ctrl-C reaches only us),
        # as few processes as a viewer needs: ``mlflow ui`` and its one uvicorn process.
        server = _descendants(proc.pid)
        sessions |= {sid for sid, _ in server.values()}
        assert server and all(sid != proc.pid for sid, _ in server.values()), server
        assert len(server) <= 2, server
        assert not [cmd for _, cmd in server.values() if "huey" in cmd or "job_runner" in cmd]

        # Ctrl-C at a terminal: SIGINT to the foreground process group, which is ours.
        seen_before = len(seen)
        os.killpg(proc.pid, signal.SIGINT)
        try:
            code = proc.wait(timeout=STOP_S)
        except subprocess.TimeoutExpired:
            pytest.fail(f"still running {STOP_S:g}s after SIGINT:\n" + "\n".join(seen))
        while (line := lines.get(timeout=10)) is not None:
            seen.append(line)
        assert seen[seen_before:] == ["MLflow UI stopped"], seen
        assert code == 0
        assert not any("Traceback" in line for line in seen), seen
        for sid in sessions:
            assert _session(sid) == [], (sid, _session(sid))
        print(f"ready line after {ready_s:.1f}s; server processes: {len(server)}")
    finally:
        for sid in sessions:
            _kill_session(sid)
        proc.wait(timeout=30)
    log = (tmp_path / "ui.log").read_text()
    assert "--workers 1" in log and "GET /health" in log


# A stand-in for `mlflow ui`: answers 200 on /health and /, on the port it is given.
FAKE_SERVER = """
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path in ("/", "/health") else 404)
        self.end_headers()
        self.wfile.write(b"OK")
    def log_message(self, *a):
        pass
open(sys.argv[2], "w").close()
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"""


def _fake(monkeypatch: pytest.MonkeyPatch, code: str, *extra: str) -> None:
    monkeypatch.setattr(ui_server, "server_argv",
                        lambda uri, host, port, runs_dir: [sys.executable, "-c", code,
                                                           str(port), *extra])


def _run(argv: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
         ) -> tuple[int, list[str], list[str]]:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    capsys.readouterr()  # what setting up the store printed
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out.splitlines(), err.splitlines()


@pytest.mark.parametrize("taken", [True, False], ids=["port in use", "port 0"])
def test_port_in_use_or_zero_is_one_line_exit_2(
    taken: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1] if taken else 0
        start = time.monotonic()
        code, out, err = _run(["ui", "--runs-dir", str(tmp_path), "--port", str(port)],
                              monkeypatch, capsys)
    assert code == 2 and out == [] and len(err) == 1, err
    assert ("already in use" if taken else "--port 0 is not a TCP port") in err[0]
    assert time.monotonic() - start < 5
    assert not (tmp_path / "ui.log").exists()


def test_a_tracking_server_uri_is_one_line_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = _run(["ui", "--runs-dir", str(tmp_path), "--port", str(_free_port()),
                           "--mlflow-uri", "http://127.0.0.1:1"], monkeypatch, capsys)
    assert code == 2 and out == [] and len(err) == 1, err
    assert "http://127.0.0.1:1 is a tracking server: its sweeps are in its own UI" in err[0]


def test_server_that_exits_is_one_line_naming_the_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    _fake(monkeypatch, "import sys; print('no such store'); sys.exit(3)")
    code, out, err = _run(["ui", "--runs-dir", str(tmp_path), "--port", str(_free_port())],
                          monkeypatch, capsys)
    assert code == 2 and len(err) == 1, err
    assert out == [f"starting the MLflow UI for sqlite:///{tmp_path}/mlflow.db ..."]
    assert f"exited with code 3 before it answered; see {tmp_path / 'ui.log'}" in err[0]
    assert "(last line: no such store)" in err[0]


def test_server_that_never_answers_is_stopped_after_the_bound(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    pid_file = tmp_path / "pid"
    _fake(monkeypatch, "import os, sys, time; open(sys.argv[2], 'w').write(str(os.getpid()));"
          " time.sleep(600)", str(pid_file))
    monkeypatch.setattr(ui_server, "READY_S", 2.0)
    code, _, err = _run(["ui", "--runs-dir", str(tmp_path), "--port", str(_free_port())],
                        monkeypatch, capsys)
    assert code == 2 and len(err) == 1, err
    assert "did not answer" in err[0] and "within 2s" in err[0] and "ui.log" in err[0]
    with pytest.raises(ProcessLookupError):
        os.kill(int(pid_file.read_text()), 0)


@pytest.mark.parametrize("sweeps", [True, False], ids=["a sweep", "no sweep"])
def test_ready_links_and_sigterm_with_a_stand_in_server(
    sweeps: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    if sweeps:
        exp_id = _sweep_store(tmp_path)
    else:
        from mlflow import MlflowClient

        MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}").create_experiment(
            "sensitivity-smoke", artifact_location=(tmp_path / "mlartifacts").as_uri())
    _fake(monkeypatch, FAKE_SERVER, str(tmp_path / "started"))
    report = ui_server._SweepLister.report

    def report_then_sigterm(self: ui_server._SweepLister, signals: object) -> None:
        report(self, signals)
        os.kill(os.getpid(), signal.SIGTERM)  # a scheduler's `kill`, once the links are out

    monkeypatch.setattr(ui_server._SweepLister, "report", report_then_sigterm)
    port = _free_port()
    code, out, err = _run(["ui", "--runs-dir", str(tmp_path), "--port", str(port)],
                          monkeypatch, capsys)
    url = f"http://127.0.0.1:{port}"
    listed = (["sweeps (their trials, in the Trials view):",
               f"  ui-sweep: {experiment_page_url(url, exp_id)}"] if sweeps
              else ["no sweeps in this store yet"])
    assert (code, err) == (0, [])
    assert out == [
        f"starting the MLflow UI for sqlite:///{tmp_path}/mlflow.db ...",
        f"MLflow UI ready at {url} (Ctrl-C stops it)",
        *listed,
        "MLflow UI stopped",
    ]


def test_a_wildcard_host_is_linked_on_loopback() -> None:
    assert ui_server.link_host("0.0.0.0") == "127.0.0.1"
    assert ui_server.link_host("::") == "[::1]"
    assert ui_server.link_host("127.0.0.1") == "127.0.0.1"
    assert ui_server.link_host("fe80::1") == "[fe80::1]"
