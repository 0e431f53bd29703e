"""The on-disk store of competing phases: one SQLite file shared by every command.

Keyed by scheme (potential name and weights version, correction scheme, phase-builder
version) and reduced formula, so a phase computed by `matforge stability` is reused by
`matforge design` and the next run, and phases of another potential never mix in.

Safe when two processes build the same chemical system at once: a process first claims
the formulas it will compute (one transaction), computes only those, and waits for
formulas another live process has claimed. Claims of a process that died are taken over.
Failures are stored too (with the reason), so a composition no template fits is not
retried on every call.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from matforge.data.paths import cache_dir
from matforge.sqlite_store import connect, transaction

FILE = "hulls.sqlite"
STALE_CLAIM_S = 3600.0  # a claim older than this is abandoned whoever holds it

SCHEMA = """
CREATE TABLE IF NOT EXISTS phases (
    scheme TEXT NOT NULL, formula TEXT NOT NULL, status TEXT NOT NULL,
    energy_per_atom REAL, corrected_energy_per_atom REAL, source TEXT, reason TEXT,
    cif TEXT, meta TEXT, created REAL NOT NULL, PRIMARY KEY (scheme, formula));
CREATE TABLE IF NOT EXISTS claims (
    scheme TEXT NOT NULL, formula TEXT NOT NULL, host TEXT NOT NULL, pid INTEGER NOT NULL,
    since REAL NOT NULL, PRIMARY KEY (scheme, formula));
CREATE TABLE IF NOT EXISTS imports (scheme TEXT NOT NULL, tag TEXT NOT NULL,
    created REAL NOT NULL, PRIMARY KEY (scheme, tag));
"""


@dataclass(frozen=True)
class Phase:
    """One competing phase: the lowest energy found for a composition, and where from."""

    formula: str
    energy_per_atom: float  # the potential's (or the source's) energy, eV/atom
    corrected_energy_per_atom: float  # on the MP2020 scale
    source: str  # e.g. "template A_cF8_227_a (aflow)", "known structure (matbench-phonons)"
    cif: str | None = None


@dataclass(frozen=True)
class FailedPhase:
    formula: str
    reason: str


class HullCache:
    """Phases of one scheme in the shared SQLite file."""

    def __init__(self, scheme: str, path: str | Path | None = None) -> None:
        self.scheme = scheme
        self.path = Path(path) if path is not None else cache_dir() / FILE
        self.conn = connect(self.path)
        self.conn.executescript(SCHEMA)
        self.me = (socket.gethostname(), os.getpid())

    def close(self) -> None:
        self.conn.close()

    # -- reading
    def lookup(self, formulas: Iterable[str]) -> dict[str, Phase | FailedPhase]:
        """Stored results for those of `formulas` that have one."""
        out: dict[str, Phase | FailedPhase] = {}
        wanted = list(dict.fromkeys(formulas))
        for k in range(0, len(wanted), 500):
            chunk = wanted[k:k + 500]
            rows = self.conn.execute(
                "SELECT formula, status, energy_per_atom, corrected_energy_per_atom, source, "
                f"reason, cif FROM phases WHERE scheme = ? AND formula IN ({_marks(chunk)})",
                (self.scheme, *chunk))
            for formula, status, e, ec, source, reason, cif in rows:
                out[formula] = Phase(formula, e, ec, source, cif) if status == "ok" else \
                    FailedPhase(formula, reason or "")
        return out

    # -- writing
    def store(self, results: Iterable[Phase | FailedPhase], meta: dict | None = None) -> None:
        """Store results (replacing older ones) and drop this scheme's claims on them."""
        rows = [_row(r) for r in results]
        now = time.time()
        with transaction(self.conn):
            self.conn.executemany(
                "INSERT OR REPLACE INTO phases (scheme, formula, status, energy_per_atom, "
                "corrected_energy_per_atom, source, reason, cif, meta, created) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(self.scheme, *row, json.dumps(meta or {}), now) for row in rows])
            self.conn.executemany("DELETE FROM claims WHERE scheme = ? AND formula = ?",
                                  [(self.scheme, row[0]) for row in rows])

    def import_once(self, tag: str, results: Iterable[Phase | FailedPhase]) -> bool:
        """Store shipped results unless this tag was imported before; existing rows win."""
        with transaction(self.conn):
            done = self.conn.execute("SELECT 1 FROM imports WHERE scheme = ? AND tag = ?",
                                     (self.scheme, tag)).fetchone()
            if done:
                return False
            now = time.time()
            meta = json.dumps({"import": tag})
            self.conn.executemany(
                "INSERT OR IGNORE INTO phases (scheme, formula, status, energy_per_atom, "
                "corrected_energy_per_atom, source, reason, cif, meta, created) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(self.scheme, *_row(r), meta, now) for r in results])
            self.conn.execute("INSERT INTO imports VALUES (?, ?, ?)", (self.scheme, tag, now))
        return True

    # -- coordination between processes
    def claim(self, formulas: Iterable[str]) -> list[str]:
        """Claim the formulas that have no result and no live claim; returns those claimed."""
        wanted = list(dict.fromkeys(formulas))
        mine = []
        with transaction(self.conn):
            done = set(self._stored(wanted))
            claims = {f: (host, pid, since) for f, host, pid, since in self.conn.execute(
                "SELECT formula, host, pid, since FROM claims WHERE scheme = ?",
                (self.scheme,)) if f in set(wanted)}
            now = time.time()
            for f in wanted:
                if f in done:
                    continue
                held = claims.get(f)
                if held is not None and _alive(*held, now=now) and held[:2] != self.me:
                    continue
                mine.append(f)
            self.conn.executemany(
                "INSERT OR REPLACE INTO claims VALUES (?, ?, ?, ?, ?)",
                [(self.scheme, f, self.me[0], self.me[1], now) for f in mine])
        return mine

    def release(self, formulas: Iterable[str]) -> None:
        with transaction(self.conn):
            self.conn.executemany(
                "DELETE FROM claims WHERE scheme = ? AND formula = ? AND host = ? AND pid = ?",
                [(self.scheme, f, *self.me) for f in formulas])

    def wait_for(self, formulas: Iterable[str], timeout: float = 1800.0,
                 poll: float = 2.0) -> list[str]:
        """Wait until every formula has a result or no live claim; returns the formulas
        left with neither (their builder died: the caller may claim them)."""
        wanted = list(dict.fromkeys(formulas))
        deadline = time.monotonic() + timeout
        while True:
            done = set(self._stored(wanted))
            pending = [f for f in wanted if f not in done]
            if not pending:
                return []
            claims = {f: (host, pid, since) for f, host, pid, since in self.conn.execute(
                "SELECT formula, host, pid, since FROM claims WHERE scheme = ?",
                (self.scheme,))}
            live = [f for f in pending if f in claims and _alive(*claims[f], now=time.time())]
            if not live or time.monotonic() > deadline:
                return pending
            time.sleep(poll)

    def count(self) -> int:
        """Phases (and failed formulas) stored for this scheme."""
        return int(self.conn.execute("SELECT COUNT(*) FROM phases WHERE scheme = ?",
                                     (self.scheme,)).fetchone()[0])

    def time_span(self, formulas: list[str]) -> float:
        """Seconds between the first and the last of `formulas` stored: the wall time of a
        build that ran in one go (a resumed build includes the pause)."""
        first, last = float("inf"), float("-inf")
        for k in range(0, len(formulas), 500):
            chunk = formulas[k:k + 500]
            lo, hi = self.conn.execute(
                f"SELECT MIN(created), MAX(created) FROM phases WHERE scheme = ? AND formula IN "
                f"({_marks(chunk)})", (self.scheme, *chunk)).fetchone()
            if lo is not None:
                first, last = min(first, lo), max(last, hi)
        return round(last - first, 1) if last >= first else 0.0

    def _stored(self, formulas: list[str]) -> list[str]:
        out = []
        for k in range(0, len(formulas), 500):
            chunk = formulas[k:k + 500]
            out.extend(r[0] for r in self.conn.execute(
                f"SELECT formula FROM phases WHERE scheme = ? AND formula IN ({_marks(chunk)})",
                (self.scheme, *chunk)))
        return out


def _row(r: Phase | FailedPhase) -> tuple:
    """(formula, status, energy, corrected energy, source, reason, cif) of one result."""
    if isinstance(r, Phase):
        return (r.formula, "ok", r.energy_per_atom, r.corrected_energy_per_atom, r.source, "",
                r.cif)
    return (r.formula, "failed", None, None, None, r.reason, None)


def _alive(host: str, pid: int, since: float, now: float) -> bool:
    """A claim counts while it is recent and, on this host, its process still runs."""
    if now - since > STALE_CLAIM_S:
        return False
    if host != socket.gethostname():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def _marks(items: list) -> str:
    return ", ".join("?" * len(items))
