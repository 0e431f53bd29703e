"""Fixtures for the design tests: a small real pool and its lookup table (Castelli data)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def castelli_tables(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A 150-formula pool CSV (formulas only) and a lookup CSV with their true values."""
    from matforge.chem.formula import reduced_formula
    from matforge.data import load_dataset

    try:
        frame = load_dataset("matbench-castelli")
    except Exception as exc:  # noqa: BLE001 - the shared data folder is absent
        pytest.skip(f"matbench-castelli not available: {exc}")
    frame = frame.assign(key=[reduced_formula(f) for f in frame["formula"]])
    frame = frame.drop_duplicates("key").sample(n=150, random_state=7)
    folder = tmp_path_factory.mktemp("castelli")
    pool = folder / "pool.csv"
    table = folder / "truth.csv"
    frame[["key"]].rename(columns={"key": "formula"}).to_csv(pool, index=False)
    frame[["key", "heat_of_formation"]].rename(columns={"key": "formula"}).to_csv(table,
                                                                                   index=False)
    return pool, table
