"""The MLflow UI: how a sweep's experiment is set up for it, and the helpers that render its
runs page in headless Chromium. The rendering test itself runs in ``test_e2e_sweep`` on that
file's sweep (one smoke sweep fewer in the suite): ``prune-sweep ui`` on 127.0.0.1, and the
trial's row with its method, sparsity, seed and test_acc columns."""

from __future__ import annotations

import math
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from html.parser import HTMLParser
from pathlib import Path

import pytest
from mlflow import MlflowClient

from tune_app.tracking import (
    EXPERIMENT_KIND_TAG,
    ML_EXPERIMENT_KIND,
    SAVED_VIEW_PREFIX,
    TRIALS_VIEW,
    get_or_create_experiment,
    open_parent_run,
)

pytestmark = pytest.mark.e2e

CHROMIUM = shutil.which("chromium")
SERVER_UP_S = 120.0  # mlflow ui imports for tens of seconds on a busy 2-core machine
RENDER_S = 240.0  # all attempts to render the page together


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop_group(proc: subprocess.Popen) -> None:
    """End the process group the test started: SIGTERM, then SIGKILL after a bounded wait for
    whatever is left (the group, not the leader alone: its workers can outlive it)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            pass
    proc.wait(timeout=20)


def _wait_healthy(url: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + SERVER_UP_S
    while True:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=5) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        if proc.poll() is not None:
            pytest.fail(f"prune-sweep ui exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        if time.monotonic() > deadline:
            pytest.fail(f"MLflow UI not healthy within {SERVER_UP_S:g}s:\n"
                        f"{log.read_text()[-3000:]}")
        time.sleep(0.5)


class _GridCells(HTMLParser):
    """The runs table's cell texts by (row-id, col-id): AG Grid renders the pinned run-name
    column and the scrolling columns in separate containers, joined only by the row's id."""

    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
            "source", "track", "wbr"}

    def __init__(self) -> None:
        super().__init__()
        self.cells: dict[str, dict[str, str]] = {}
        self._stack: list[tuple[str | None, str | None]] = []  # (row id, col id) per open tag
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.VOID:
            return
        a = dict(attrs)
        row = a.get("row-id") if a.get("role") == "row" else None
        col = a.get("col-id") if a.get("role") == "gridcell" else None
        self._stack.append((row, col))
        if col:
            self._text = []

    def handle_endtag(self, tag: str) -> None:
        if tag in self.VOID or not self._stack:
            return
        _, col = self._stack.pop()
        if col:
            row = next((r for r, _ in reversed(self._stack) if r), None)
            if row:
                self.cells.setdefault(row, {})[col] = " ".join("".join(self._text).split())

    def handle_data(self, data: str) -> None:
        self._text.append(data)


def _render(url: str, profile: Path, budget_ms: int) -> str:
    """The DOM headless Chromium has after ``budget_ms`` of virtual time (network waits do not
    use it up), in a fresh profile: what a first-time visitor sees. A window this wide lets
    AG Grid render every selected column; it leaves out columns beyond the viewport."""
    proc = subprocess.Popen(
        [CHROMIUM, "--headless=new", "--disable-gpu", "--no-sandbox", "--no-first-run",
         f"--user-data-dir={profile}", "--window-size=1600,1000",
         f"--virtual-time-budget={budget_ms}", "--dump-dom", url],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        out = ""
    finally:
        _stop_group(proc)
    return out


def _ui_metric(value: float) -> str:
    """A metric as the runs table prints it (``Utils.formatMetric`` of the MLflow UI, for the
    range accuracies fall in): three decimals, JavaScript's shortest number text."""
    assert 0 <= value < 10
    if value == 0:
        return "0"
    rounded = math.floor(value * 1000 + 0.5) / 1000  # Math.round: halves go up
    return str(int(rounded)) if rounded.is_integer() else repr(rounded)


def test_resumed_sweep_experiment_gets_kind_and_trials_view(tmp_path: Path) -> None:
    # An experiment from before this release: no kind, no view. Resuming opens the parent run.
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    exp_id = client.create_experiment("old-sweep")
    open_parent_run(client, exp_id, "old-sweep", {})
    tags = client.get_experiment(exp_id).tags
    assert tags[EXPERIMENT_KIND_TAG] == ML_EXPERIMENT_KIND
    view = tags[SAVED_VIEW_PREFIX + TRIALS_VIEW]
    # A view someone edited in the UI and a kind someone chose are kept on the next run.
    client.set_experiment_tag(exp_id, SAVED_VIEW_PREFIX + TRIALS_VIEW, view + " ")
    client.set_experiment_tag(exp_id, EXPERIMENT_KIND_TAG, "genai_development")
    assert get_or_create_experiment(client, "old-sweep", None) == exp_id
    open_parent_run(client, exp_id, "old-sweep", {})
    tags = client.get_experiment(exp_id).tags
    assert tags[SAVED_VIEW_PREFIX + TRIALS_VIEW] == view + " "
    assert tags[EXPERIMENT_KIND_TAG] == "genai_development"
