"""A quick, read-only look at one sweep in its MLflow store, without importing MLflow.

Importing MLflow costs 3-7 s on a small machine; a user who starts a second driver for a
running sweep, or reuses a sweep name, must hear about it within 2 s. For the two stores a
sweep usually records to, what those answers need (the experiment, the sweep's parent run
with its tags and params, how many trial and dense runs exist) is read directly: an sqlite
file through Python's own ``sqlite3`` (read-only, so a read-only copy works too) and a
tracking server through MLflow's documented REST API. Other stores (PostgreSQL, MySQL) return
None and callers fall back to ``MlflowClient``."""

from __future__ import annotations

import json
import os
import sqlite3
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from tune_app.errors import UserError


@dataclass(frozen=True)
class SweepPeek:
    """What the store holds of one sweep. ``experiment_id`` is None when it holds nothing."""

    experiment_id: str | None = None
    sweep_run_id: str | None = None
    sweep_status: str | None = None
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    # status -> count, of runs tagged role=trial / role=dense (active ones)
    trials: dict[str, int] = field(default_factory=dict)
    dense: dict[str, int] = field(default_factory=dict)

    @property
    def has_results(self) -> bool:
        """Whether any trial or dense run was recorded (the name is then taken)."""
        return bool(sum(self.trials.values()) + sum(self.dense.values()))


def peek(uri: str, sweep: str, timeout_s: float = 10.0) -> SweepPeek | None:
    """The sweep as its store holds it now, or None when this store cannot be read quickly."""
    if uri.startswith("sqlite:///"):
        return _peek_sqlite(Path(uri[len("sqlite:///"):]), sweep, timeout_s)
    if uri.startswith(("http://", "https://")):
        return _peek_rest(uri.rstrip("/"), sweep, timeout_s)
    return None


def _peek_sqlite(db: Path, sweep: str, timeout_s: float) -> SweepPeek:
    if not db.is_file():
        return SweepPeek()
    try:
        try:
            return _read_sqlite(db, sweep, timeout_s, "ro")
        except sqlite3.OperationalError as exc:
            # A writer killed mid-transaction (a SIGKILLed driver or trial) leaves a hot
            # journal, which only a writable connection may roll back: SQLite does that on
            # opening, as the next MLflow write would. A read-only copy cannot hold one.
            if "readonly" not in str(exc) or not os.access(db, os.W_OK) or \
                    not os.access(db.parent, os.W_OK):
                raise
            return _read_sqlite(db, sweep, timeout_s, "rw")
    except sqlite3.Error as exc:
        raise UserError(f"cannot read the MLflow database {db}: {exc}") from None


def _read_sqlite(db: Path, sweep: str, timeout_s: float, mode: str) -> SweepPeek:
    con = sqlite3.connect(f"{db.resolve().as_uri()}?mode={mode}", uri=True, timeout=timeout_s)
    try:
        return _query_sqlite(con, sweep)
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return SweepPeek()  # an empty file: MLflow creates its tables on first use
        raise
    finally:
        con.close()


def _query_sqlite(con: sqlite3.Connection, sweep: str) -> SweepPeek:
    row = con.execute("SELECT experiment_id FROM experiments WHERE name = ? "
                      "AND lifecycle_stage = 'active'", (sweep,)).fetchone()
    if row is None:
        return SweepPeek()
    exp = row[0]
    counts: dict[str, dict[str, int]] = {"trial": {}, "dense": {}}
    for role, status, n in con.execute(
            "SELECT t.value, r.status, COUNT(*) FROM runs r JOIN tags t ON t.run_uuid = r.run_uuid"
            " WHERE r.experiment_id = ? AND r.lifecycle_stage = 'active' AND t.key = 'role'"
            " AND t.value IN ('trial', 'dense') GROUP BY t.value, r.status", (exp,)):
        counts[role][status] = n
    parent = con.execute(
        "SELECT r.run_uuid, r.status FROM runs r JOIN tags t ON t.run_uuid = r.run_uuid "
        "WHERE r.experiment_id = ? AND r.lifecycle_stage = 'active' AND t.key = 'role' "
        "AND t.value = 'sweep' ORDER BY r.start_time, r.run_uuid LIMIT 1", (exp,)).fetchone()
    if parent is None:
        return SweepPeek(str(exp), trials=counts["trial"], dense=counts["dense"])
    run_id, status = parent
    tags = dict(con.execute("SELECT key, value FROM tags WHERE run_uuid = ?", (run_id,)))
    params = dict(con.execute("SELECT key, value FROM params WHERE run_uuid = ? AND "
                              "key LIKE 'lease.%'", (run_id,)))
    return SweepPeek(str(exp), run_id, status, params, tags, counts["trial"], counts["dense"])


def _peek_rest(base: str, sweep: str, timeout_s: float) -> SweepPeek:
    query = urllib.parse.urlencode({"experiment_name": sweep})
    found = _call(base, f"experiments/get-by-name?{query}", None, timeout_s)
    exp = (found or {}).get("experiment")
    if not exp or exp.get("lifecycle_stage") != "active":
        return SweepPeek()
    exp_id = exp["experiment_id"]
    counts: dict[str, dict[str, int]] = {"trial": {}, "dense": {}}
    parent = None
    token = None
    while True:
        body = {"experiment_ids": [exp_id], "max_results": 1000,
                "order_by": ["attributes.start_time ASC"]}
        if token:
            body["page_token"] = token
        page = _call(base, "runs/search", body, timeout_s) or {}
        for run in page.get("runs", []):
            tags = {t["key"]: t.get("value", "") for t in run.get("data", {}).get("tags", [])}
            role, status = tags.get("role"), run["info"].get("status", "")
            if role == "sweep" and parent is None:
                params = {p["key"]: p.get("value", "")
                          for p in run.get("data", {}).get("params", [])
                          if p["key"].startswith("lease.")}
                parent = (run["info"]["run_id"], status, params, tags)
            elif role in counts:
                counts[role][status] = counts[role].get(status, 0) + 1
        token = page.get("next_page_token")
        if not token:
            break
    if parent is None:
        return SweepPeek(str(exp_id), trials=counts["trial"], dense=counts["dense"])
    run_id, status, params, tags = parent
    return SweepPeek(str(exp_id), run_id, status, params, tags, counts["trial"], counts["dense"])


def _call(base: str, path: str, body: dict | None, timeout_s: float) -> dict | None:
    url = f"{base}/api/2.0/mlflow/{path}"
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method="POST" if data else "GET",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:
            return json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise UserError(f"MLflow server at {base} answered HTTP {exc.code} to {path}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise UserError(f"MLflow server at {base} is unreachable "
                        f"({getattr(exc, 'reason', exc)})") from None
