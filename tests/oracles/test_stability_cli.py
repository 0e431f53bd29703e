"""`matforge stability` and `matforge.stability` with real CHGNet: the auto hull offline, a
user's own phases, per-row failures, and structures that make no physical sense."""

from __future__ import annotations

import pandas as pd
import pytest
from pymatgen.core import Lattice, Structure
from typer.testing import CliRunner

import matforge
from matforge.cli import app
from matforge.oracles.stability import COLUMNS


def _nacl(a: float = 5.6) -> Structure:
    return Structure.from_spacegroup("Fm-3m", Lattice.cubic(a), ["Na", "Cl"],
                                     [[0, 0, 0], [0.5, 0.5, 0.5]]).get_primitive_structure()


def _collapsed() -> Structure:
    return Structure(Lattice.cubic(4.0), ["Na", "Cl"], [[0, 0, 0], [0.001, 0, 0]])  # 0.004 A


def _empty_cell() -> Structure:
    return Structure(Lattice.cubic(20.0), ["Na", "Cl"], [[0, 0, 0], [0.12, 0, 0]])  # 4000 A^3/2


def test_stability_command_auto_hull_and_bad_rows(tmp_path) -> None:
    src = tmp_path / "in.csv"
    pd.DataFrame({"material_id": ["good", "collapsed", "empty", "broken"],
                  "cif": [_nacl().to(fmt="cif"), _collapsed().to(fmt="cif"),
                          _empty_cell().to(fmt="cif"), "data_x\n_cell_length_a oops"]}
                 ).to_csv(src, index=False)
    out = tmp_path / "out.csv"
    res = CliRunner().invoke(app, ["stability", str(src), "--out", str(out), "--hull", "auto"])
    assert res.exit_code == 0, res.output
    frame = pd.read_csv(out, keep_default_na=False)
    assert list(frame["material_id"]) == ["good", "collapsed", "empty", "broken"]
    assert set(COLUMNS) <= set(frame.columns)
    good = frame.iloc[0]
    assert good["status"] == "ok" and good["reason"] == ""
    # rock salt NaCl is the ground state: on the hull of every known Na-Cl phase, within
    # the spread of CHGNet's relaxations
    assert abs(float(good["e_above_hull"])) < 0.02
    assert float(good["formation_energy_per_atom"]) < -1.5
    assert good["potential"].startswith("chgnet-0.3.0") and good["hull_source"].startswith("auto")
    assert "NaCl" in good["decomposition"] and int(good["n_competing_phases"]) >= 3
    collapsed, empty, broken = frame.iloc[1], frame.iloc[2], frame.iloc[3]
    assert collapsed["status"] == "failed" and "apart" in collapsed["reason"]
    assert empty["status"] == "failed" and "per atom" in empty["reason"]
    assert broken["status"] == "failed" and "unreadable CIF" in broken["reason"]
    assert "1/4 structures placed on the hull" in res.output


def test_single_unphysical_structure_is_one_clear_error(tmp_path) -> None:
    runner = CliRunner()
    for structure, words in ((_collapsed(), "apart"), (_empty_cell(), "per atom")):
        path = tmp_path / "one.cif"
        structure.to(filename=str(path))
        for command in ("stability", "relax"):
            res = runner.invoke(app, [command, str(path), "--out", str(tmp_path / "o.csv")])
            assert res.exit_code != 0 and isinstance(res.exception, matforge.MatforgeError)
            assert words in str(res.exception) and "unphysical structure" in str(res.exception)


def test_python_api_with_a_users_own_phases(tmp_path) -> None:
    """A user phase set with given energies (MP2020 scale): the hull is built from it alone."""
    phases = tmp_path / "phases.csv"
    na = Structure(Lattice.cubic(4.23), ["Na", "Na"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    cl2 = Structure(Lattice.cubic(10.0), ["Cl", "Cl"], [[0, 0, 0], [0.2, 0, 0]])
    pd.DataFrame({"cif": [na.to(fmt="cif"), cl2.to(fmt="cif"), _nacl().to(fmt="cif")],
                  "corrected_energy_per_atom": [-1.3, -1.85, -3.4]}).to_csv(phases, index=False)
    table = matforge.stability([_nacl(), None], hull=str(phases), relax=False)
    assert list(table["status"]) == ["ok", "failed"]
    row = table.iloc[0]
    e = float(row["corrected_energy_per_atom"])
    assert float(row["e_above_hull"]) == pytest.approx(e + 3.4, abs=1e-6)
    assert float(row["formation_energy_per_atom"]) == pytest.approx(e + 1.575, abs=1e-6)
    assert row["hull_source"] == f"{phases} (user phases)"
    assert row["relax_steps"] == 0
