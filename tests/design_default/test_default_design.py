"""The default campaign end to end on the engine: a small, fast configuration (reproducible,
resumable), then the full run (slow) against the targets a chemist checks."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from pymatgen.core import Composition, Structure
from smact.screening import smact_validity

from matforge.chem.elements import DEFAULT_EXCLUDED
from matforge.chem.geometry import structure_problem
from matforge.data.known import known_compositions
from matforge.design.presets import DefaultCampaignConfig, run_default_campaign
from matforge.design.store import CampaignStore
from matforge.errors import MatforgeError
from matforge.report.browser import check_html, find_chromium

SMALL = DefaultCampaignConfig(n_generate=3000, budget=4, batch_size=2, n_final=4,
                              surrogate_members=2, surrogate_max_iter=40, relax_steps=60)


def _check_folder(folder, min_candidates):
    """Every ranked candidate passes an independent check: SMACT's own default validity,
    novel against every known composition, no unsafe elements, a sane relaxed structure and
    an energy above the hull; the list is ordered feasible first."""
    frame = pd.read_csv(folder / "candidates.csv", keep_default_na=False)
    assert len(frame) >= min_candidates
    for col in ("rank", "formula", "feasible", "cif", "pred_log10_PF_p", "pred_log10_PF_p_std",
                "energy_per_atom", "formation_energy_per_atom", "e_above_hull",
                "decomposition", "n_competing_phases", "potential", "hull_source", "parent",
                "synthesizability", "likely_synthesizable"):
        assert col in frame.columns, col
    known = known_compositions()
    for _, row in frame.iterrows():
        assert smact_validity(row["formula"], include_alloys=False), row["formula"]
        assert row["formula"] not in known
        assert not {str(e) for e in Composition(row["formula"]).elements} & set(DEFAULT_EXCLUDED)
        structure = Structure.from_str(row["cif"], fmt="cif")
        assert structure.composition.reduced_formula == row["formula"]
        assert structure_problem(structure) == ""
        assert np.isfinite(float(row["e_above_hull"]))
        assert 0.0 <= float(row["synthesizability"]) <= 1.0
    feasible = frame["feasible"].astype(str) == "True"
    assert list(feasible) == sorted(feasible, reverse=True)  # feasible candidates first
    assert (feasible == (frame["e_above_hull"].astype(float) <= 0.1)).all()
    assert (folder / "report.html").stat().st_size > 10_000
    assert len(list((folder / "cifs").glob("*.cif"))) == len(frame)
    for name in ("config.yaml", "campaign.sqlite", "evaluations.csv", "pool.csv"):
        assert (folder / name).exists(), name
    return frame, json.loads((folder / "summary.json").read_text())


def test_small_campaign_is_complete_reproducible_and_resumable(tmp_path):
    run_default_campaign(tmp_path / "a", seed=1, config=SMALL, log=lambda _: None)
    first, summary = _check_folder(tmp_path / "a", 3)
    assert summary["ranked"] == len(first)
    assert 0 < summary["preset"]["surrogate"]["test_mae"] < 1.0
    st = summary["stability"]
    assert st["n"] == len(first) and 0 <= st["sun"] <= st["metastable"] <= st["n"]
    assert "known compositions" in summary["novelty_reference"]
    if find_chromium():  # the report renders offline, every plot drawn, no table too wide
        check = check_html(tmp_path / "a" / "report.html")
        assert check.ok and not check.wide_tables, check
        html = (tmp_path / "a" / "report.html").read_text()
        assert "Stability against competing phases" in html
        assert "Why the surrogate ranks them" in html and "pushes up" in html
    assert summary["synthesizability"]["likely_synthesizable"] <= summary["ranked"]
    run_default_campaign(tmp_path / "b", seed=1, config=SMALL, log=lambda _: None)
    second = pd.read_csv(tmp_path / "b" / "candidates.csv", keep_default_na=False)
    assert first["formula"].tolist() == second["formula"].tolist()
    assert np.allclose(first["e_above_hull"], second["e_above_hull"], atol=1e-4)
    # a larger budget on resume continues the stored campaign where it stopped
    with CampaignStore(tmp_path / "a" / "campaign.sqlite") as store:
        spec = store.get_meta("spec")
        spec["budget"] = 6
        store.set_meta(spec=spec)
    resumed = run_default_campaign(tmp_path / "a", resume=True, log=lambda _: None)
    assert resumed["evaluations"] == 6


def test_max_minutes_stops_before_the_campaign_and_resume_finishes(tmp_path):
    summary = run_default_campaign(tmp_path / "c", seed=2, max_minutes=0.01, config=SMALL,
                                   log=lambda _: None)
    assert summary["evaluations"] == 0 and "out of time" in summary["stopped"]
    done = run_default_campaign(tmp_path / "c", resume=True, log=lambda _: None)
    assert done["evaluations"] == SMALL.budget and not done["stopped"]


def test_refuses_a_non_empty_output_folder(tmp_path):
    (tmp_path / "x.txt").write_text("keep me")
    with pytest.raises(MatforgeError, match="not empty"):
        run_default_campaign(tmp_path, config=SMALL, log=lambda _: None)
    assert [p.name for p in tmp_path.iterdir()] == ["x.txt"]


@pytest.mark.slow
def test_default_command_meets_the_issue_criteria(tmp_path):
    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-m", "matforge.cli", "design", "--out", str(out),
                           "--seed", "0"], capture_output=True, text=True, check=False,
                          timeout=1200)
    assert proc.returncode == 0, proc.stderr[-2000:]
    _, summary = _check_folder(out, 50)
    assert summary["stability"]["sun_rate"] >= 0.5, summary["stability"]
