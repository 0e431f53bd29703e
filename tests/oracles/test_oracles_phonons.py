"""Phonon (dynamic stability) check with phonopy and real CHGNet forces.

Lattice constants are CHGNet's own relaxed values (relaxed with fmax 0.005 eV/A), so the
structures sit at a stationary point of the potential; all atoms are on sites where the
forces vanish by symmetry.
"""

from __future__ import annotations

import pandas as pd
import pytest
import typer
from pymatgen.core import Lattice, Structure
from typer.testing import CliRunner

from matforge.candidate import Candidate
from matforge.errors import MatforgeError
from matforge.oracles.phonons import PhononOracle, auto_supercell, phonon_check


def _rocksalt_nacl() -> Structure:
    return Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.698), ["Na", "Cl"],
                                     [[0, 0, 0], [0.5, 0.5, 0.5]]).get_primitive_structure()


def _diamond_si() -> Structure:
    return Structure.from_spacegroup("Fd-3m", Lattice.cubic(5.461), ["Si"],
                                     [[0, 0, 0]]).get_primitive_structure()


def _cubic_catio3() -> Structure:
    # Ideal cubic perovskite: CaTiO3's ground state is orthorhombic Pnma, reached by tilting
    # the TiO6 octahedra, i.e. by the R-point mode that is imaginary in the cubic phase.
    return Structure(Lattice.cubic(3.889), ["Ca", "Ti", "O", "O", "O"],
                     [[0, 0, 0], [.5, .5, .5], [.5, .5, 0], [.5, 0, .5], [0, .5, .5]])


@pytest.mark.parametrize("make", [_rocksalt_nacl, _diamond_si])
def test_stable_crystals_have_no_imaginary_modes(make) -> None:
    res = phonon_check(make())
    assert res.dynamically_stable
    assert res.min_phonon_freq_thz > -0.1
    assert res.max_phonon_freq_thz > 3.0  # real optical branches, not a collapsed spectrum
    assert res.n_supercell_atoms == 54 and res.n_displacements <= 2


def test_relaxed_nacl_stable_with_default_displacement() -> None:
    # regression: relaxed at fmax 0.01 from a = 5.64 A, 0.01 A displacements gave a spurious
    # -0.85 THz mode with CHGNet's float32 forces; the 0.03 A default gives a clean spectrum
    from matforge.oracles.relax import relax_structure

    start = Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"],
                                      [[0, 0, 0], [0.5, 0.5, 0.5]]).get_primitive_structure()
    relaxed = relax_structure(start, fmax=0.01)
    assert relaxed.converged
    assert phonon_check(relaxed.structure).dynamically_stable


def test_cubic_perovskite_tilt_instability() -> None:
    res = phonon_check(_cubic_catio3())
    assert not res.dynamically_stable
    assert res.min_phonon_freq_thz < -1.0
    # the softest mode sits at the R point (1/2, 1/2, 1/2): octahedral tilting
    assert [abs(q) for q in res.q_min] == pytest.approx([0.5, 0.5, 0.5])


def test_cost_bounds_and_oracle_failures() -> None:
    assert auto_supercell(_cubic_catio3(), 7.0) == (2, 2, 2)
    big = _cubic_catio3() * (2, 2, 2)
    with pytest.raises(MatforgeError, match="max_atoms"):
        phonon_check(big)
    with pytest.raises(MatforgeError, match="max_supercell_atoms"):
        phonon_check(_cubic_catio3(), min_length=12.0)
    results = PhononOracle(max_atoms=4).evaluate(
        [Candidate.from_structure(_diamond_si()), Candidate.from_structure(_cubic_catio3()),
         Candidate("NaCl")])
    assert [r.status for r in results] == ["ok", "failed", "failed"]
    assert results[0].values["dynamically_stable"] == 1.0
    assert "max_atoms" in results[1].reason and "no structure" in results[2].reason


def test_phonons_command(tmp_path) -> None:
    from matforge.commands.phonons import register

    src = tmp_path / "in.csv"
    pd.DataFrame({"material_id": ["si", "big", "bad"],
                  "cif": [_diamond_si().to(fmt="cif"), (_diamond_si() * (3, 3, 3)).to(fmt="cif"),
                          "data_x\n_cell_length_a q"]}).to_csv(src, index=False)
    app, train_app = typer.Typer(), typer.Typer()
    app.command("noop")(lambda: None)
    register(app, train_app)
    out = tmp_path / "out.csv"
    res = CliRunner().invoke(app, ["phonons", str(src), "--out", str(out)])
    assert res.exit_code == 0, res.output + repr(res.exception)
    frame = pd.read_csv(out, keep_default_na=False)
    assert list(frame["material_id"]) == ["si", "big", "bad"]
    assert str(frame.loc[0, "dynamically_stable"]) == "True"
    assert "max_atoms" in frame.loc[1, "phonon_error"]
    assert "unreadable CIF" in frame.loc[2, "phonon_error"]
    assert "1/3 structures checked, 1 dynamically stable" in res.output


def test_relax_command_with_phonons(tmp_path) -> None:
    from matforge.commands.relax import register

    src = tmp_path / "in.csv"
    squeezed = Structure.from_spacegroup("Fd-3m", Lattice.cubic(5.3), ["Si"],
                                         [[0, 0, 0]]).get_primitive_structure()
    pd.DataFrame({"material_id": ["si"], "cif": [squeezed.to(fmt="cif")]}).to_csv(src, index=False)
    app, train_app = typer.Typer(), typer.Typer()
    app.command("noop")(lambda: None)
    register(app, train_app)
    out = tmp_path / "out.csv"
    res = CliRunner().invoke(app, ["relax", str(src), "--out", str(out), "--fmax", "0.01",
                                   "--phonons"])
    assert res.exit_code == 0, res.output + repr(res.exception)
    row = pd.read_csv(out, keep_default_na=False).iloc[0]
    assert bool(row["converged"]) and row["phonon_error"] == ""
    assert str(row["dynamically_stable"]) == "True" and float(row["min_phonon_freq_thz"]) > -0.1


def test_phonons_command_relaxes_first(tmp_path) -> None:
    """`phonons --relax` is `relax --phonons`: relaxed cif and energy, then the phonon check;
    an unreadable row keeps its place with the reason."""
    from matforge.commands.phonons import register

    src = tmp_path / "in.csv"
    squeezed = Structure.from_spacegroup("Fd-3m", Lattice.cubic(5.3), ["Si"],
                                         [[0, 0, 0]]).get_primitive_structure()
    pd.DataFrame({"material_id": ["si", "bad"],
                  "cif": [squeezed.to(fmt="cif"), "data_x\n_cell_length_a q"]}).to_csv(src,
                                                                                   index=False)
    app, train_app = typer.Typer(), typer.Typer()
    app.command("noop")(lambda: None)
    register(app, train_app)
    out = tmp_path / "out.csv"
    res = CliRunner().invoke(app, ["phonons", str(src), "--out", str(out), "--relax"])
    assert res.exit_code == 0, res.output + repr(res.exception)
    frame = pd.read_csv(out, keep_default_na=False)
    assert list(frame["material_id"]) == ["si", "bad"]
    assert bool(frame.loc[0, "converged"]) and str(frame.loc[0, "dynamically_stable"]) == "True"
    assert Structure.from_str(frame.loc[0, "cif"], fmt="cif").volume > squeezed.volume
    assert "unreadable CIF" in frame.loc[1, "phonon_error"]
    assert "1/2 structures checked, 1 dynamically stable" in res.output
