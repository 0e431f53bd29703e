"""The PU synthesizability model: data splits, decoys, fitting, storage, CLI and campaigns."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from matforge.chem.validity import check_composition
from matforge.data.known import chemical_system
from matforge.errors import MatforgeError
from matforge.synthesizability import score_synthesizability, synthesizability_frame
from matforge.synthesizability.data import random_decoys, system_split
from matforge.synthesizability.model import PUBaggingClassifier
from matforge.synthesizability.train import precision_lower_bound

# made compounds (positives) and odd, random-looking ones (unlabelled) for a fast fit
POSITIVES = ["NaCl", "KCl", "LiF", "MgO", "CaO", "SrO", "BaO", "ZnO", "Al2O3", "TiO2", "SiO2",
             "GaAs", "InP", "ZnS", "CdTe", "NaBr", "KBr", "CsCl", "LiCl", "MgF2", "CaF2",
             "Fe2O3", "NiO", "CuO", "SnO2", "PbS", "Ag2O", "BN", "AlN", "GaN"]


def test_system_split_keeps_a_chemical_system_together():
    assert {system_split(f) for f in ("LiFeO2", "Li2FeO3", "Li5FeO4")} == \
        {system_split("LiFeO2")}
    labels = [system_split(f"Li{k}O") for k in range(1, 3)]
    assert labels[0] == labels[1]


def test_decoys_are_charge_balanced_unknown_and_distinct():
    known = {"NaCl"}
    decoys = random_decoys(40, known, seed=3)
    assert len(set(decoys)) == 40 and not set(decoys) & known
    assert all(check_composition(f).valid_strict for f in decoys)
    assert all(2 <= len(chemical_system(f).split("-")) <= 4 for f in decoys)
    assert random_decoys(40, known, seed=3) == decoys  # seeded


def test_fit_score_save_load_round_trip(tmp_path):
    unlabelled = random_decoys(120, set(POSITIVES), seed=1)
    model = PUBaggingClassifier(n_bags=3, max_iter=30, min_samples_leaf=3, progress=False)
    model.fit(POSITIVES, unlabelled)
    scores = model.score(POSITIVES + unlabelled[:30])
    assert scores.shape == (60,) and np.all((scores >= 0) & (scores <= 1))
    assert scores[:30].mean() > scores[30:].mean() + 0.3  # training positives rank first
    model.threshold = 0.5
    model.save(tmp_path / "m")
    again = PUBaggingClassifier.load(tmp_path / "m")
    np.testing.assert_allclose(again.score(POSITIVES), model.score(POSITIVES), atol=1e-12)
    assert again.threshold == 0.5
    with pytest.raises(MatforgeError, match="at least 10"):
        PUBaggingClassifier(progress=False).fit(POSITIVES[:5], unlabelled)


def test_precision_lower_bound_counts_unlabelled_above_as_false():
    assert precision_lower_bound(np.array([0.9, 0.8, 0.1]), np.array([0.95, 0.2]), 0.5) == \
        pytest.approx(2 / 3)


def test_shipped_model_ranks_known_compounds_above_random_ones():
    decoys = random_decoys(50, set(POSITIVES), seed=7)
    made, odd = score_synthesizability(POSITIVES), score_synthesizability(decoys)
    assert np.median(made) > np.median(odd)
    frame = synthesizability_frame(pd.DataFrame({"formula": ["NaCl", "Cr5Co4Te6Mo2"]}))
    assert {"synthesizability", "likely_synthesizable"} <= set(frame.columns)
    assert bool(frame["likely_synthesizable"].iloc[0])


def test_cli_scores_a_csv(tmp_path):
    src = tmp_path / "in.csv"
    pd.DataFrame({"formula": ["NaCl", "GaAs", "Cs2Ta5AsH6"]}).to_csv(src, index=False)
    out = tmp_path / "out.csv"
    run = subprocess.run([sys.executable, "-m", "matforge.cli", "synthesizability", str(src),
                          "--out", str(out)], check=False, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    frame = pd.read_csv(out)
    assert list(frame["formula"]) == ["NaCl", "GaAs", "Cs2Ta5AsH6"]
    assert frame["synthesizability"].between(0, 1).all()


def test_shipped_model_card_names_data_split_and_metrics():
    from matforge.model_dir import resolve_model_dir

    path = resolve_model_dir("synthesizability")
    card = (path / "MODEL_CARD.md").read_text()
    for word in ("positives", "unlabelled", "chemical system", "threshold", "TPR"):
        assert word in card, word
    cfg = json.loads((path / "config.json").read_text())
    assert 0 < cfg["threshold"] < 1 and cfg["metrics"]["val"]["tpr"] >= 0.94


def test_campaign_constraint_and_oracle_use_the_score():
    from matforge.candidate import Candidate
    from matforge.design.filters import CandidateFilter
    from matforge.design.spec import Constraints, OracleSpec
    from matforge.design.store import _reason_kind
    from matforge.oracles.plugins import build_oracle

    cands = [Candidate("NaCl"), Candidate("Cs2Ta5AsH6")]
    scores = score_synthesizability(["NaCl", "Cs2Ta5AsH6"])
    cut = float(scores.mean())
    verdicts = CandidateFilter(Constraints(min_synthesizability=cut))(cands)
    assert [ok for ok, _ in verdicts] == [s >= cut for s in scores]
    rejected = next(reason for ok, reason in verdicts if not ok)
    assert _reason_kind(rejected) == f"synthesizability below {cut:.2f}"
    assert CandidateFilter(Constraints(min_synthesizability="threshold"))(cands)[0][0]
    spec = OracleSpec.parse("synthesizability")
    results = build_oracle(spec.kind, spec.target).evaluate(cands)
    assert [r.values["synthesizability"] for r in results] == pytest.approx(list(scores))


def test_threshold_keeps_the_target_tpr_with_confidence():
    from scipy.stats import beta

    from matforge.synthesizability.train import threshold_for_tpr

    scores = np.random.default_rng(0).random(500)
    t = threshold_for_tpr(scores, 0.95, 0.95)
    kept = int((scores >= t).sum())
    assert beta.ppf(0.05, kept, 500 - kept + 1) >= 0.95  # the bound holds at this threshold
    assert beta.ppf(0.05, kept - 1, 500 - kept + 2) < 0.95  # and it is the highest that does
    assert t < np.quantile(scores, 0.05)  # stricter than the plain quantile
    assert threshold_for_tpr(scores[:20], 0.95, 0.95) == scores[:20].min()  # too few: keep all


def _rock_salts() -> list:
    from pymatgen.core import Lattice, Structure

    pairs = [("Na", "Cl", 5.6), ("K", "Cl", 6.3), ("Li", "F", 4.0), ("Mg", "O", 4.2),
             ("Ca", "O", 4.8), ("Sr", "O", 5.2), ("Ba", "O", 5.5), ("Ni", "O", 4.2),
             ("Na", "Br", 6.0), ("K", "Br", 6.6), ("Li", "Cl", 5.1), ("Rb", "I", 7.3)]
    return [Structure.from_spacegroup(225, Lattice.cubic(a), [x, y], [[0, 0, 0], [0.5, 0.5, 0.5]])
            .get_primitive_structure() for x, y, a in pairs]


def test_structure_variant_tells_made_structures_from_random_ones(tmp_path, use_fixture_data):
    """A small structure PU set: rock salts as positives, their random polymorphs and Perov-5
    cells unlabelled; fit, threshold on held-out rows, save, score through the frame API."""
    from matforge.data import load_dataset
    from matforge.data.readers import parse_cif
    from matforge.synthesizability.structures import (
        MP_STRUCTURES,
        StructurePUData,
        add_random_polymorphs,
        same_composition_auc,
    )
    from matforge.synthesizability.train import train_structure_synthesizability

    data = StructurePUData()
    for s in _rock_salts():
        data.add(s, 1, MP_STRUCTURES)
    for cif in load_dataset("perov-5", split="val")["cif"][:12]:
        data.add(parse_cif(cif), 0, "perov-5")
    add_random_polymorphs(data, seed=0, progress=False)
    assert data.sources.count("random") == 12  # every rock salt got a random partner
    assert all(data.structures[j].composition == data.structures[i].composition
               for i, j in enumerate(data.pair) if j >= 0)
    data.splits = ["val" if i in (3, 7) or (i >= 12 and i % 4 == 0) else "train"
                   for i in range(len(data.structures))]
    result = train_structure_synthesizability(tmp_path / "m", data=data, n_bags=2, max_iter=30,
                                              min_samples_leaf=2, progress=False)
    assert result["val"]["n_positive"] == 2
    model = PUBaggingClassifier.load(tmp_path / "m")
    scores = model.score(data.structures)
    assert same_composition_auc(scores, data, "train") > 0.9
    card = (tmp_path / "m" / "MODEL_CARD.md").read_text()
    assert "structure" in card and "threshold" in card
    with pytest.raises(MatforgeError, match="not a CIF"):
        model.score(["NaCl"])
    frame = pd.DataFrame({"formula": ["NaCl", "KCl"],
                          "cif": [data.structures[0].to(fmt="cif"), ""]})
    out = synthesizability_frame(frame, structure_model=str(tmp_path / "m"))
    assert out["structure_synthesizability"].iloc[0] == pytest.approx(scores[0])
    assert pd.isna(out["structure_synthesizability"].iloc[1])  # no CIF, no structure score
    assert out["synthesizability"].notna().all()


def test_shipped_structure_model_prefers_the_made_polymorph():
    from matforge.generators.crystal.random_symmetric import RandomSymmetricCSP
    from matforge.synthesizability import STRUCTURE_MODEL

    made = _rock_salts()[:4]  # NaCl, KCl, LiF, MgO in rock salt
    random_ = [RandomSymmetricCSP().propose(s.composition * 2, k=1, seed=i)[0]
               for i, s in enumerate(made)]
    scores = score_synthesizability(made + random_, model=STRUCTURE_MODEL)
    assert np.all(scores[:4] > scores[4:])
    model = PUBaggingClassifier.load(STRUCTURE_MODEL)
    assert model.featurizer == "chgnet+magpie" and 0 < model.threshold < 1
