"""The SQLite helper every store uses: opening a new file that another process is switching
to WAL at the same moment waits instead of failing."""

from __future__ import annotations

import sqlite3

import pytest

from matforge.sqlite_store import _set_wal


class LockedTwice:
    """A connection whose WAL switch meets another process's lock twice (what SQLite says,
    without calling its busy handler, when two processes open one new file together)."""

    def __init__(self) -> None:
        self.calls = 0

    def execute(self, sql: str) -> None:
        self.calls += 1
        if self.calls <= 2:
            raise sqlite3.OperationalError("database is locked")


def test_wal_switch_is_retried_while_locked() -> None:
    conn = LockedTwice()
    _set_wal(conn)
    assert conn.calls == 3


def test_other_errors_are_not_retried() -> None:
    class Broken:
        def execute(self, sql: str) -> None:
            raise sqlite3.OperationalError("disk I/O error")

    with pytest.raises(sqlite3.OperationalError, match="disk I/O"):
        _set_wal(Broken())
