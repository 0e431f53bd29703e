"""A lookup-table oracle: the truth comes from a table that the design strategy never sees.

Used for benchmarks and for replaying known data: each candidate's reduced formula is looked up
in a data set (registered name or CSV/CIF path); repeated formulas in the table are averaged.
A formula that is not in the table is a failed Result, not an error.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd

from matforge.candidate import Candidate
from matforge.chem.formula import reduced_formula
from matforge.errors import DataError
from matforge.oracles.base import OK, Oracle, Result


class LookupOracle(Oracle):
    """Values of `columns` for each candidate's reduced formula; `delay` seconds per call."""

    name = "lookup"

    def __init__(self, table: str | Path | pd.DataFrame, columns: list[str] | None = None,
                 split: str = "all", delay: float = 0.0, rename: dict[str, str] | None = None):
        if isinstance(table, pd.DataFrame):
            frame, source = table, "table"
        else:
            from matforge.data import load_dataset

            frame, source = load_dataset(str(table), split=split), str(table)
        if rename:
            frame = frame.rename(columns=rename)
        if "formula" not in frame.columns:
            raise DataError("a lookup table needs a 'formula' column", source=source)
        if columns is None:
            columns = [c for c in frame.columns if c not in ("formula", "cif", "split")
                       and pd.api.types.is_numeric_dtype(frame[c])]
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise DataError(f"lookup table has no column(s) {', '.join(missing)}; "
                            f"it has {', '.join(map(str, frame.columns))}", source=source)
        keys = [reduced_formula(f) for f in frame["formula"]]
        values = frame[columns].apply(pd.to_numeric, errors="coerce")
        grouped = values.assign(_key=keys).groupby("_key", sort=False).mean()
        self.columns = list(columns)
        self.table: dict[str, tuple[float, ...]] = {
            k: tuple(float(x) for x in row) for k, row in zip(grouped.index, grouped.to_numpy())}
        self.delay = float(delay)
        self.source = source

    def __len__(self) -> int:
        return len(self.table)

    def evaluate(self, candidates: list[Candidate]) -> list[Result]:
        out = []
        for cand in candidates:
            start = time.perf_counter()
            if self.delay:
                time.sleep(self.delay)
            row = self.table.get(cand.formula)
            seconds = time.perf_counter() - start
            if row is None:
                out.append(Result.failed(cand, f"{cand.formula} is not in the lookup table",
                                         seconds))
                continue
            values = {c: v for c, v in zip(self.columns, row) if np.isfinite(v)}
            if not values:
                out.append(Result.failed(cand, f"{cand.formula}: no value in the table", seconds))
                continue
            out.append(Result(cand, OK, values, "", seconds))
        return out


