"""The campaign store: every step, proposal, verdict, prediction and oracle result in SQLite.

One file (`campaign.sqlite`) inside the run folder, WAL journal, synchronous commits, one
transaction per logical change, so a process killed at any instant leaves either the state
before or the state after each change. Resume reads everything back from here:

- a step row is written together with its chosen batch (proposals + pending evaluations), so
  a step is either not chosen at all or chosen completely;
- an evaluation goes pending -> running (attempts + 1) -> ok/failed; a `running` row found on
  resume is an oracle call that was cut off before its result was stored, and is run again.
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from collections.abc import Iterable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from matforge.sqlite_store import connect, transaction

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS steps (
    step INTEGER PRIMARY KEY, strategy TEXT NOT NULL, status TEXT NOT NULL,
    created REAL NOT NULL, completed REAL, info TEXT);
CREATE TABLE IF NOT EXISTS proposals (
    id INTEGER PRIMARY KEY AUTOINCREMENT, step INTEGER NOT NULL, formula TEXT NOT NULL,
    cif TEXT, strategy TEXT NOT NULL, provenance TEXT, mean TEXT, std TEXT,
    acquisition REAL, selected INTEGER NOT NULL DEFAULT 0, rank INTEGER, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS verdicts (
    id INTEGER PRIMARY KEY AUTOINCREMENT, step INTEGER NOT NULL, formula TEXT NOT NULL,
    passed INTEGER NOT NULL, reason TEXT, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS evaluations (
    step INTEGER NOT NULL, idx INTEGER NOT NULL, formula TEXT NOT NULL, cif TEXT,
    strategy TEXT NOT NULL, provenance TEXT, status TEXT NOT NULL, "values" TEXT,
    reason TEXT, seconds REAL, attempts INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL, started REAL, finished REAL, result_cif TEXT,
    PRIMARY KEY (step, idx));
CREATE INDEX IF NOT EXISTS proposals_step ON proposals(step);
"""

PENDING, RUNNING = "pending", "running"
FINAL = ("ok", "failed")


class CampaignStore:
    """Thin, transactional access to one campaign database."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.conn = connect(self.path, synchronous="FULL")
        self.conn.executescript(SCHEMA)
        columns = {row[1] for row in self.conn.execute("PRAGMA table_info(evaluations)")}
        if "result_cif" not in columns:  # a store written before oracles returned structures
            self.conn.execute("ALTER TABLE evaluations ADD COLUMN result_cif TEXT")

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> CampaignStore:  # noqa: PYI034
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _tx(self) -> AbstractContextManager[None]:
        return transaction(self.conn)

    # -- meta ----------------------------------------------------------------------------------
    def set_meta(self, **items: Any) -> None:
        with self._tx():
            for key, value in items.items():
                self.conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                                  (key, json.dumps(value)))

    def get_meta(self, key: str, default: Any = None) -> Any:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else default

    # -- steps ---------------------------------------------------------------------------------
    def record_step(self, step: int, strategy: str, batch: list[dict[str, Any]],
                    scored: Iterable[dict[str, Any]] = (), verdicts: Iterable[dict] = (),
                    info: dict | None = None) -> None:
        """Store a chosen batch atomically: step row, logged proposals, pending evaluations."""
        now = time.time()
        with self._tx():
            self.conn.execute("INSERT INTO steps VALUES (?, ?, 'selected', ?, NULL, ?)",
                              (step, strategy, now, json.dumps(info or {})))
            for v in verdicts:
                self.conn.execute(
                    "INSERT INTO verdicts (step, formula, passed, reason, created) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (step, v["formula"], int(v["passed"]), v.get("reason", ""), now))
            for p in scored:
                self._insert_proposal(step, strategy, p, selected=False, rank=None, now=now)
            for i, p in enumerate(batch):
                self._insert_proposal(step, strategy, p, selected=True, rank=i, now=now)
                self.conn.execute(
                    "INSERT INTO evaluations (step, idx, formula, cif, strategy, provenance, "
                    "status, created) VALUES (?, ?, ?, ?, ?, ?, 'pending', ?)",
                    (step, i, p["formula"], p.get("cif"), strategy,
                     json.dumps(p.get("provenance") or {}), now))

    def _insert_proposal(self, step: int, strategy: str, p: dict, selected: bool,
                         rank: int | None, now: float) -> None:
        self.conn.execute(
            "INSERT INTO proposals (step, formula, cif, strategy, provenance, mean, std, "
            "acquisition, selected, rank, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (step, p["formula"], p.get("cif"), strategy, json.dumps(p.get("provenance") or {}),
             _json_or_none(p.get("mean")), _json_or_none(p.get("std")),
             _float_or_none(p.get("acquisition")), int(selected), rank, now))

    def record_verdicts(self, step: int, verdicts: Iterable[dict[str, Any]]) -> None:
        now = time.time()
        with self._tx():
            self.conn.executemany(
                "INSERT INTO verdicts (step, formula, passed, reason, created) "
                "VALUES (?, ?, ?, ?, ?)",
                [(step, v["formula"], int(v["passed"]), v.get("reason", ""), now)
                 for v in verdicts])

    def complete_step(self, step: int) -> None:
        with self._tx():
            self.conn.execute("UPDATE steps SET status = 'done', completed = ? WHERE step = ?",
                              (time.time(), step))

    def steps(self) -> list[dict[str, Any]]:
        cur = self.conn.execute("SELECT step, strategy, status, created, completed FROM steps "
                                "ORDER BY step")
        return [dict(zip(("step", "strategy", "status", "created", "completed"), r)) for r in cur]

    # -- evaluations ---------------------------------------------------------------------------
    def mark_running(self, step: int, idx: int) -> None:
        with self._tx():
            self.conn.execute("UPDATE evaluations SET status = 'running', started = ?, "
                              "attempts = attempts + 1 WHERE step = ? AND idx = ?",
                              (time.time(), step, idx))

    def record_result(self, step: int, idx: int, status: str, values: dict[str, float],
                      reason: str, seconds: float, result_cif: str | None = None) -> None:
        """`result_cif`: the structure the oracle ended with (a relaxed cell), if it changed."""
        with self._tx():
            cur = self.conn.execute(
                'UPDATE evaluations SET status = ?, "values" = ?, reason = ?, seconds = ?, '
                "finished = ?, result_cif = ? "
                "WHERE step = ? AND idx = ? AND status NOT IN ('ok', 'failed')",
                (status, json.dumps(values), reason, seconds, time.time(), result_cif, step,
                 idx))
            if cur.rowcount != 1:
                raise RuntimeError(f"evaluation ({step}, {idx}) already has a result")

    def unfinished(self, step: int) -> list[dict[str, Any]]:
        return [e for e in self.evaluations(step=step) if e["status"] not in FINAL]

    def evaluations(self, step: int | None = None) -> list[dict[str, Any]]:
        sql = ('SELECT step, idx, formula, cif, strategy, provenance, status, "values", reason, '
               "seconds, attempts, started, finished, result_cif FROM evaluations")
        args: tuple = ()
        if step is not None:
            sql += " WHERE step = ?"
            args = (step,)
        sql += " ORDER BY step, idx"
        keys = ("step", "idx", "formula", "cif", "strategy", "provenance", "status", "values",
                "reason", "seconds", "attempts", "started", "finished", "result_cif")
        out = []
        for row in self.conn.execute(sql, args):
            rec = dict(zip(keys, row))
            rec["values"] = json.loads(rec["values"]) if rec["values"] else {}
            rec["provenance"] = json.loads(rec["provenance"]) if rec["provenance"] else {}
            out.append(rec)
        return out

    def n_selected(self) -> int:
        return int(self.conn.execute("SELECT COUNT(*) FROM evaluations").fetchone()[0])

    def proposals(self, step: int | None = None) -> list[dict[str, Any]]:
        sql = ("SELECT step, formula, strategy, mean, std, acquisition, selected, rank "
               "FROM proposals")
        args: tuple = ()
        if step is not None:
            sql += " WHERE step = ?"
            args = (step,)
        keys = ("step", "formula", "strategy", "mean", "std", "acquisition", "selected", "rank")
        out = []
        for row in self.conn.execute(sql + " ORDER BY id", args):
            rec = dict(zip(keys, row))
            for k in ("mean", "std"):
                rec[k] = json.loads(rec[k]) if rec[k] else None
            out.append(rec)
        return out

    def rejection_reasons(self) -> Counter:
        """Rejected proposals per kind of reason (the text before its details)."""
        counts: Counter = Counter()
        for (reason,) in self.conn.execute("SELECT reason FROM verdicts WHERE passed = 0"):
            counts[_reason_kind(reason or "")] += 1
        return counts

    def verdict_counts(self) -> dict[str, int]:
        cur = self.conn.execute("SELECT passed, COUNT(*) FROM verdicts GROUP BY passed")
        counts = {"passed": 0, "rejected": 0}
        for passed, n in cur:
            counts["passed" if passed else "rejected"] = int(n)
        return counts


def _reason_kind(reason: str) -> str:
    """'forbidden elements: U,Pa' -> 'forbidden elements'; chemistry verdicts by their rule."""
    if reason.startswith("charge-neutral"):
        return "not electronegativity-balanced"
    if "balances the charge" in reason:
        return "not charge-neutral"
    limit = re.match(r"[\d.]+ (atoms|elements) > ([\d.]+)", reason)
    if limit:
        return f"more than {limit.group(2)} {limit.group(1)}"
    if reason.startswith("synthesizability"):
        return "synthesizability " + reason.split("<")[-1].strip().join(("below ", ""))
    return reason.split(":")[0].split(" (")[0][:60]


def _json_or_none(value: Any) -> str | None:
    if value is None:
        return None
    if hasattr(value, "tolist"):
        value = value.tolist()
    return json.dumps(value)


def _float_or_none(value: Any) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None
