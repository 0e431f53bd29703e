"""SQLite the way every matforge store uses it: WAL journal, a generous lock timeout,
autocommit outside explicit transactions, and `BEGIN IMMEDIATE` transactions, so several
processes can share one file and a killed process leaves each change whole or absent."""

from __future__ import annotations

import random
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

TIMEOUT_S = 60.0  # how long a process waits for another's lock


def connect(path: str | Path, synchronous: str = "NORMAL") -> sqlite3.Connection:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), timeout=TIMEOUT_S, isolation_level=None)
    _set_wal(conn)
    conn.execute(f"PRAGMA synchronous={synchronous}")
    return conn


def _set_wal(conn: sqlite3.Connection) -> None:
    """Switch to WAL, waiting out another process doing the same: that switch needs an
    exclusive lock, and SQLite answers "database is locked" at once instead of calling the
    busy handler when two processes open a new file together."""
    deadline = time.monotonic() + TIMEOUT_S
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05 + 0.1 * random.random())


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """One write transaction: taken at once (no lock upgrade deadlocks), rolled back on error."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
