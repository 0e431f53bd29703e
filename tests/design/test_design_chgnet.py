"""A campaign whose oracle is CHGNet: formulas get template cells, are relaxed, and the
relaxed structures and energies land in the store, evaluations.csv and the report."""

from __future__ import annotations

import json

import pandas as pd
from pymatgen.core import Composition, Structure
from typer.testing import CliRunner

from matforge.cli import app
from matforge.design.store import CampaignStore
from matforge.report.browser import check_html, find_chromium

POOL = ["NaCl", "KCl", "LiF", "MgO", "CaO", "KBr", "NaF", "SrO"]


def test_chgnet_campaign_relaxes_records_and_resumes(tmp_path) -> None:
    pool = tmp_path / "pool.csv"
    pd.DataFrame({"formula": POOL}).to_csv(pool, index=False)
    out = tmp_path / "run"
    runner = CliRunner()
    args = ["design", "--pool", str(pool), "--oracle", "chgnet", "--objective",
            "formation_energy_per_atom:min", "--strategy", "random", "--budget", "3",
            "--batch-size", "3", "--out", str(out), "--seed", "0", "--oracle-option",
            "fmax=0.1", "--oracle-option", "steps=200"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(out / "evaluations.csv")
    assert len(frame) == 3 and (frame["status"] == "ok").all(), frame.get("reason")
    # ionic binaries: strongly negative formation energies against the CHGNet elements
    assert (frame["formation_energy_per_atom"] < -1.0).all()
    assert (frame["converged"] == 1.0).all()
    for formula, cif in zip(frame["formula"], frame["cif"]):
        relaxed = Structure.from_str(cif, fmt="cif")
        assert relaxed.composition.reduced_composition == Composition(formula).reduced_composition
    with CampaignStore(out / "campaign.sqlite") as store:
        evals = store.evaluations()
        assert store.get_meta("spec")["oracle"]["options"] == {"fmax": 0.1, "steps": 200}
    assert all(e["result_cif"] and e["cif"] is None for e in evals)  # pool gave formulas only
    # every relaxed candidate is placed on the offline hull of its chemical system
    assert frame["e_above_hull"].notna().all() and (frame["e_above_hull"] > -1).all()
    assert frame["hull_source"].str.startswith("auto").all()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["stability"]["n"] == 3 and "known compositions" in summary["stability"]["summary"]
    html = (out / "report.html").read_text()
    assert "Structures of the top candidates" in html and "Stability against competing" in html
    n_hulls = html.count("<h3>Hull of ")
    assert n_hulls >= 1
    if find_chromium():  # best-so-far, periodic table, hull diagrams, one 3D view per structure
        check = check_html(out / "report.html")
        assert check.ok and check.n_plots == 1 + 1 + n_hulls + 3, check
        assert not check.wide_tables, check  # the ranked table fits the page

    again = runner.invoke(app, ["design", "--out", str(out), "--resume", "--budget", "5"])
    assert again.exit_code == 0, again.output
    frame = pd.read_csv(out / "evaluations.csv")
    assert len(frame) == 5 and frame["formula"].is_unique
    assert (frame["status"] == "ok").all()


def test_unchanged_structures_are_not_stored_twice(tmp_path) -> None:
    from pymatgen.core import Lattice

    rock_salt = {f: Structure.from_spacegroup("Fm-3m", Lattice.cubic(a), list(els),
                                              [[0, 0, 0], [0.5, 0.5, 0.5]])
                 for f, a, els in (("NaCl", 5.64, ("Na", "Cl")), ("KCl", 6.29, ("K", "Cl")))}
    pool, truth = tmp_path / "pool.csv", tmp_path / "truth.csv"
    pd.DataFrame({"formula": list(rock_salt),
                  "cif": [s.to(fmt="cif") for s in rock_salt.values()]}).to_csv(pool, index=False)
    pd.DataFrame({"formula": list(rock_salt), "gap": [8.5, 8.4]}).to_csv(truth, index=False)
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["design", "--pool", str(pool), "--oracle", f"lookup:{truth}",
                                      "--objective", "gap:max", "--strategy", "random",
                                      "--budget", "2", "--batch-size", "2", "--out", str(out)])
    assert result.exit_code == 0, result.output
    with CampaignStore(out / "campaign.sqlite") as store:
        evals = store.evaluations()
    assert len(evals) == 2 and all(e["cif"] and e["result_cif"] is None for e in evals)
    assert pd.read_csv(out / "evaluations.csv")["cif"].notna().all()  # the given cells
