"""Fixtures for the design tests: small real pools and their lookup tables.

- `pool_tables`: 150 compositions of the mp-transport set, which ships inside matminer, with
  their BoltzTraP power factor; available on every machine, so the campaign mechanics
  (outputs, determinism, resume, strategies) are tested the same with or without the shared
  data.
- `castelli_tables`: 150 Castelli perovskites from the shared matbench-castelli set, for the
  tests whose thresholds were measured on that pool (the learned strategies beat random by a
  margin in eV/atom); they skip, naming the file, where the shared data is absent.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

POOL_PROPERTY = "log10_PF_p"  # the default campaign's objective: log10 p-type power factor


@pytest.fixture(scope="session")
def pool_tables(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A 150-formula pool CSV (formulas only) and a lookup CSV with their true values."""
    from pymatgen.core import Composition

    from matforge.chem.elements import DEFAULT_EXCLUDED
    from matforge.chem.formula import reduced_formula
    from matforge.data import load_dataset

    excluded = set(DEFAULT_EXCLUDED)
    frame = load_dataset("mp-transport")
    frame = frame.assign(key=[reduced_formula(f) for f in frame["formula"]])
    frame = frame.drop_duplicates("key")
    # two to four elements, none excluded by the default filter, at most 12 atoms a formula
    plain = frame["key"].str.findall(r"[A-Z][a-z]?").map(
        lambda els: 2 <= len(set(els)) <= 4 and not set(els) & excluded)
    frame = frame[plain]
    frame = frame[[Composition(f).num_atoms <= 12 for f in frame["key"]]]
    frame = frame.sample(n=150, random_state=7)
    # rounded like the Castelli table (two decimals): values survive CSV round trips exactly
    frame[POOL_PROPERTY] = np.log10(frame["PF_p"]).round(3)
    folder = tmp_path_factory.mktemp("mp_transport_pool")
    pool = folder / "pool.csv"
    table = folder / "truth.csv"
    frame[["key"]].rename(columns={"key": "formula"}).to_csv(pool, index=False)
    frame[["key", POOL_PROPERTY]].rename(columns={"key": "formula"}).to_csv(table, index=False)
    return pool, table


@pytest.fixture(scope="session")
def castelli_tables(tmp_path_factory: pytest.TempPathFactory, full_dataset) -> tuple[Path, Path]:
    """A 150-formula pool CSV (formulas only) and a lookup CSV with their true values
    (Castelli perovskites, full shared data set)."""
    from matforge.chem.formula import reduced_formula

    frame = full_dataset("matbench-castelli")
    frame = frame.assign(key=[reduced_formula(f) for f in frame["formula"]])
    frame = frame.drop_duplicates("key").sample(n=150, random_state=7)
    folder = tmp_path_factory.mktemp("castelli")
    pool = folder / "pool.csv"
    table = folder / "truth.csv"
    frame[["key"]].rename(columns={"key": "formula"}).to_csv(pool, index=False)
    frame[["key", "heat_of_formation"]].rename(columns={"key": "formula"}).to_csv(table,
                                                                                   index=False)
    return pool, table
