"""`matforge relax` on a CSV (one unreadable row) and the stability oracle on candidates."""

from __future__ import annotations

import pandas as pd
import pytest
import typer
from pymatgen.core import Lattice, Structure
from typer.testing import CliRunner

from matforge.candidate import Candidate
from matforge.commands.relax import register
from matforge.oracles.hull import Hull
from matforge.oracles.hull_sources import StructureSetPhases
from matforge.oracles.stability import StabilityOracle


def _nacl() -> Structure:
    return Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.4), ["Na", "Cl"],
                                     [[0, 0, 0], [0.5, 0.5, 0.5]]).get_primitive_structure()


def test_relax_command_reports_bad_rows(tmp_path) -> None:
    src = tmp_path / "in.csv"
    pd.DataFrame({"material_id": ["a", "b"],
                  "cif": [_nacl().to(fmt="cif"), "data_broken\n_cell_length_a x"]}).to_csv(
        src, index=False)
    app, train_app = typer.Typer(), typer.Typer()
    app.command("noop")(lambda: None)  # keep the sub-command name in the invocation
    register(app, train_app)
    out = tmp_path / "out.csv"
    res = CliRunner().invoke(app, ["relax", str(src), "--out", str(out), "--fmax", "0.05"])
    assert res.exit_code == 0, res.output
    frame = pd.read_csv(out)
    assert list(frame["material_id"]) == ["a", "b"]
    good, bad = frame.iloc[0], frame.iloc[1]
    assert bool(good["converged"]) and good["steps"] > 0 and good["energy_per_atom"] < -3
    assert Structure.from_str(good["cif"], fmt="cif").composition.reduced_formula == "NaCl"
    assert "unreadable CIF" in bad["error"]
    assert "relaxed 1/2" in res.output


def test_relax_command_keeps_symmetry(tmp_path) -> None:
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    src = tmp_path / "in.csv"
    pd.DataFrame({"cif": [_nacl().to(fmt="cif")]}).to_csv(src, index=False)
    app, train_app = typer.Typer(), typer.Typer()
    app.command("noop")(lambda: None)
    register(app, train_app)
    out = tmp_path / "out.csv"
    res = CliRunner().invoke(app, ["relax", str(src), "--out", str(out), "--keep-symmetry"])
    assert res.exit_code == 0, res.output
    relaxed = Structure.from_str(pd.read_csv(out)["cif"][0], fmt="cif")
    assert SpacegroupAnalyzer(relaxed).get_space_group_number() == 225


def _user_phases(tmp_path, energies: dict[str, tuple[Structure, float]]):
    path = tmp_path / "phases.csv"
    pd.DataFrame({"cif": [s.to(fmt="cif") for s, _ in energies.values()],
                  "corrected_energy_per_atom": [e for _, e in energies.values()]}
                 ).to_csv(path, index=False)
    return Hull(StructureSetPhases(str(path)))


def _elements(*pairs: tuple[str, float]) -> dict:
    return {el: (Structure(Lattice.cubic(3.0), [el], [[0, 0, 0]]), e) for el, e in pairs}


def test_stability_oracle(tmp_path) -> None:
    hull = _user_phases(tmp_path, _elements(("Na", -1.3), ("Cl", -1.8)))
    cands = [Candidate.from_structure(_nacl()), Candidate("Fe2O3")]
    oracle = StabilityOracle(fmax=0.1, hull=hull, csp="none", progress=False)
    results = oracle.evaluate(cands)
    assert [r.status for r in results] == ["ok", "failed"]
    v = results[0].values
    assert v["formation_energy_per_atom"] == pytest.approx(v["corrected_energy_per_atom"] + 1.55)
    # no competing compound: the hull is the element tie line, so e_above_hull = E_f
    assert v["e_above_hull"] == pytest.approx(v["formation_energy_per_atom"], abs=1e-6)
    assert v["decomposition"] == "0.500 Na + 0.500 Cl2" and v["potential"].startswith("chgnet")
    assert results[1].reason == "no structure to relax"
    assert cands[0].structure is results[0].candidate.structure


def test_stability_oracle_gives_formulas_a_template_cell(tmp_path) -> None:
    hull = _user_phases(tmp_path, _elements(("K", -1.0), ("Cl", -1.8)))
    oracle = StabilityOracle(fmax=0.1, hull=hull, progress=False)
    (result,) = oracle.evaluate([Candidate("KCl")])
    assert result.ok, result.reason
    relaxed = result.candidate.structure
    assert relaxed is not None and relaxed.composition.reduced_formula == "KCl"
    assert result.values["converged"] == 1.0
    # relaxed rock salt KCl: nearest K-Cl distance near the experimental 3.15 A
    assert 2.9 < min(relaxed.distance_matrix[relaxed.distance_matrix > 0]) < 3.4
