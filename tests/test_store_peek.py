"""The quick look at a sweep's sqlite store, after a writer was killed mid-transaction."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tune_app.store_peek import peek

# A writer that spills uncommitted pages to the file, then dies as SIGKILL leaves it: the
# rollback journal stays behind, "hot".
KILLED_WRITER = """
import os, signal, sqlite3, sys
con = sqlite3.connect(sys.argv[1], isolation_level=None)
con.execute("PRAGMA cache_size = 1")
con.execute("BEGIN IMMEDIATE")
con.executemany("INSERT INTO t VALUES (?)", [("x" * 500,) for _ in range(2000)])
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_hot_journal_left_by_a_killed_writer_is_rolled_back(tmp_path: Path) -> None:
    import sqlite3

    db = tmp_path / "mlflow.db"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE t (v TEXT)")
    con.commit()
    con.close()
    proc = subprocess.run([sys.executable, "-c", KILLED_WRITER, str(db)], timeout=60,
                          check=False)
    assert proc.returncode == -9
    journal = tmp_path / "mlflow.db-journal"
    assert journal.is_file() and journal.stat().st_size > 0
    # A read-only connection cannot roll it back ("attempt to write a readonly database").
    found = peek(f"sqlite:///{db}", "any sweep", timeout_s=5)
    assert found is not None and not found.has_results
    assert not journal.exists() or journal.stat().st_size == 0
    with sqlite3.connect(db) as check:
        assert check.execute("SELECT COUNT(*) FROM t").fetchone() == (0,)
