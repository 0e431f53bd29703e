"""pyxtal random symmetric baseline on real compositions and real Carbon-24 cells."""

from __future__ import annotations

from pathlib import Path

import pytest
from pymatgen.core import Composition

from matforge.generators.base import load_generator
from matforge.generators.crystal.random_symmetric import RandomSymmetricCSP

pytest.importorskip("pyxtal")


def test_random_structures_keep_the_cell_composition() -> None:
    gen = RandomSymmetricCSP()
    structures = gen.propose("Ba1Ti1O3", k=2, seed=3)
    assert len(structures) == 2
    for s in structures:
        assert s.composition == Composition("BaTiO3")
    again = gen.propose("Ba1Ti1O3", k=2, seed=3)
    assert [s.to(fmt="cif") for s in structures] == [s.to(fmt="cif") for s in again]


def test_fit_on_carbon_and_roundtrip(tmp_path: Path, fixture_data) -> None:
    val = fixture_data.load("carbon-24", split="val").head(20)  # tests/data/fixtures
    gen = RandomSymmetricCSP().fit(val, max_structures=20)
    assert gen.spacegroup_weights and abs(sum(gen.spacegroup_weights.values()) - 1) < 1e-9
    gen.save(tmp_path / "rnd")
    loaded = load_generator(tmp_path / "rnd")
    cands = loaded.sample(2, seed=0)
    assert len(cands) == 2
    assert all(c.structure is not None and c.formula == "C" for c in cands)
