"""The default campaign end to end: a small, fast configuration, then the full run (slow)."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from pymatgen.core import Composition, Structure

from matforge.chem import check_composition
from matforge.data import load_dataset
from matforge.design.default import DefaultDesignConfig, run_default_design
from matforge.errors import MatforgeError

SMALL = DefaultDesignConfig(n_generate=3000, n_select=4, surrogate_members=2,
                            surrogate_max_iter=40, relax_steps=40)


def _check_folder(folder, min_candidates):
    frame = pd.read_csv(folder / "candidates.csv", keep_default_na=False)
    assert len(frame) >= min_candidates
    for col in ("formula", "cif", "pred_PF_p", "pred_log10_PF_p_std", "charge_neutral",
                "electronegativity_balanced", "energy_per_atom", "formation_energy_per_atom"):
        assert col in frame.columns, col
    known = {Composition(f).reduced_formula for f in load_dataset("mp-transport")["formula"]}
    for _, row in frame.iterrows():
        verdict = check_composition(row["formula"])
        assert verdict.valid_strict, (row["formula"], verdict.reason)
        assert row["formula"] not in known
        structure = Structure.from_str(row["cif"], fmt="cif")
        assert structure.composition.reduced_formula == row["formula"]
        d = structure.distance_matrix + np.eye(len(structure)) * 99
        assert len(structure) == 1 or d.min() > 0.5
        assert np.isfinite(row["formation_energy_per_atom"])
    assert (folder / "report.html").stat().st_size > 10_000
    assert len(list((folder / "cifs").glob("*.cif"))) == len(frame)
    assert (folder / "config.yaml").exists()
    return frame


def test_small_campaign_is_complete_and_reproducible(tmp_path):
    run_default_design(tmp_path / "a", seed=1, config=SMALL, log=lambda _: None)
    first = _check_folder(tmp_path / "a", 3)
    summary = json.loads((tmp_path / "a" / "summary.json").read_text())
    assert summary["counts"]["final"] == len(first)
    assert 0 < summary["surrogate"]["test_mae"] < 1.0
    run_default_design(tmp_path / "b", seed=1, config=SMALL, log=lambda _: None)
    second = pd.read_csv(tmp_path / "b" / "candidates.csv", keep_default_na=False)
    assert first["formula"].tolist() == second["formula"].tolist()
    assert np.allclose(first["energy_per_atom"], second["energy_per_atom"], atol=1e-4)


def test_refuses_a_non_empty_output_folder(tmp_path):
    (tmp_path / "x.txt").write_text("keep me")
    with pytest.raises(MatforgeError, match="not empty"):
        run_default_design(tmp_path, config=SMALL, log=lambda _: None)
    assert [p.name for p in tmp_path.iterdir()] == ["x.txt"]


@pytest.mark.slow
def test_default_command_meets_the_issue_criteria(tmp_path):
    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-m", "matforge.cli", "design", "--out", str(out),
                           "--seed", "0"], capture_output=True, text=True, check=False, timeout=1200)
    assert proc.returncode == 0, proc.stderr[-2000:]
    _check_folder(out, 50)
