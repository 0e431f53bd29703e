"""Where a structure search keeps what it has relaxed, so an interrupted run resumes.

One SQLite file (`sqlite_store`: WAL, atomic transactions), keyed by the search's recipe
(every option that changes a result, the potential's identity and the library's sources) and
the reduced formula. A composition is written whole as soon as its search finishes; a killed
run loses at most the compositions in flight. Structures are stored as CIF text, no pickle.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from matforge.sqlite_store import connect, transaction

SCHEMA = """
CREATE TABLE IF NOT EXISTS searched (
    recipe TEXT NOT NULL, formula TEXT NOT NULL, result TEXT NOT NULL, created REAL NOT NULL,
    PRIMARY KEY (recipe, formula));
"""


class SearchStore:
    """Finished searches by (recipe, formula)."""

    def __init__(self, path: str | Path, recipe: str) -> None:
        self.path = Path(path)
        self.recipe = recipe
        self.conn = connect(self.path)
        self.conn.executescript(SCHEMA)

    def load(self, formulas: list[str]) -> dict[str, dict]:
        """The stored results of those formulas that have one."""
        out = {}
        for formula in formulas:
            row = self.conn.execute("SELECT result FROM searched WHERE recipe=? AND formula=?",
                                    (self.recipe, formula)).fetchone()
            if row:
                out[formula] = json.loads(row[0])
        return out

    def save(self, formula: str, result: dict) -> None:
        with transaction(self.conn):
            self.conn.execute("INSERT OR REPLACE INTO searched VALUES (?, ?, ?, ?)",
                              (self.recipe, formula, json.dumps(result), time.time()))

    def close(self) -> None:
        self.conn.close()

