"""Metrics on hand-made cases whose answers are known (issue 3, "Done when")."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pymatgen.core import Lattice, Structure

from matforge.metrics import coverage as cov
from matforge.metrics import csp, distributions, evaluate, matching, recovery, stability
from matforge.metrics.cost import flagged_elements, hhi
from matforge.metrics.validity import compositional_validity, structural_validity


def rocksalt(a: float = 5.64, species=("Na", "Cl")) -> Structure:
    return Structure.from_spacegroup("Fm-3m", Lattice.cubic(a), list(species),
                                     [[0, 0, 0], [0.5, 0.5, 0.5]])


def perovskite(a: float = 3.905) -> Structure:
    return Structure(Lattice.cubic(a), ["Sr", "Ti", "O", "O", "O"],
                     [[0, 0, 0], [.5, .5, .5], [.5, .5, 0], [.5, 0, .5], [0, .5, .5]])


def frame(structures: list[Structure], **cols) -> pd.DataFrame:
    return pd.DataFrame({"formula": [s.composition.reduced_formula for s in structures],
                         "cif": [s.to(fmt="cif") for s in structures], **cols})


def test_two_atoms_too_close_are_invalid():
    s = Structure(Lattice.cubic(5.0), ["Si", "Si"], [[0, 0, 0], [0.06, 0, 0]])  # 0.3 Å
    ok, reason = structural_validity(s)
    assert not ok and "0.300 Å apart" in reason
    assert structural_validity(rocksalt()) == (True, "")


def test_tiny_volume_is_invalid():
    ok, reason = structural_validity(Structure(Lattice.cubic(0.4), ["C"], [[0, 0, 0]]))
    assert not ok and "volume" in reason


def test_charged_composition_and_alloys():
    valid, strict, reason = compositional_validity("NaCl2")
    assert not valid and not strict and "charge" in reason
    assert compositional_validity("NaCl")[:2] == (True, True)
    valid, strict, _ = compositional_validity("CuZn")  # all metals: valid for SMACT/CDVAE only
    assert valid and not strict


def test_duplicated_structure_is_not_unique():
    a = rocksalt()
    b = rocksalt()
    b.perturb(0.01, min_distance=0.005)  # still the same material
    classes = matching.structure_classes([a, b, perovskite()], n_jobs=1, progress=False)
    assert classes.tolist() == [0, 0, 2]


def test_supercell_of_training_structure_is_not_novel():
    train = [reduce for reduce in matching.reduce_all([rocksalt(), perovskite()], n_jobs=1,
                                                       progress=False)]
    supercell = perovskite() * (2, 1, 1)
    other = rocksalt(4.2, ("Mg", "O"))
    queries = matching.reduce_all([supercell, other], n_jobs=1, progress=False)
    hits = matching.match_against(queries, train, n_jobs=1, progress=False)
    assert hits.tolist() == [1, -1]


def test_formula_classes_and_recovery_curve():
    assert matching.formula_classes(["NaCl", "MgO", "NaCl"]).tolist() == [0, 1, 0]
    first = recovery.first_hits_by_formula(["MgO", "NaCl", "LiF"], ["NaCl", "KCl", "MgO"])
    assert first.tolist() == [2, 0, -1]
    curve = dict(recovery.recovery_curve(first, 3))
    assert curve[1] == pytest.approx(1 / 3) and curve[3] == pytest.approx(2 / 3)


def test_wasserstein_known_values():
    assert distributions.wdist([1.0, 2.0], [1.0, 2.0]) == 0.0
    assert distributions.wdist([0.0], [1.0, 3.0]) == pytest.approx(2.0)
    assert distributions.wdist([], [1.0]) is None


def test_coverage_definition():
    # two samples, two test crystals; sample 0 is close to test 0 in both fingerprints
    s_struct = [np.zeros(3), np.full(3, 5.0), None]
    s_comp = np.array([[0.0, 0.0], [100.0, 0.0], [0.0, 0.0]])
    t_struct = [np.array([0.1, 0.0, 0.0]), np.array([0.0, 3.0, 0.0])]
    t_comp = np.array([[1.0, 0.0], [0.0, 0.0]])
    res = cov.coverage(s_struct, s_comp, t_struct, t_comp, 0.2, 4.0)
    assert res["cov_recall"] == 0.5  # test 1 is far in structure from every sample
    assert res["cov_precision"] == pytest.approx(1 / 3)  # failed fingerprint still counts
    assert res["precise"] == [True, False, False]
    assert cov.cutoffs_for("perov-5") == (0.2, 4.0) and cov.cutoffs_for("mp_20") == (0.4, 10.0)


def test_csp_match_and_rmse():
    target = perovskite()
    near = target.copy()
    near.translate_sites([2], [0.01, 0.0, 0.0])
    wrong = rocksalt(5.0, ("Sr", "O"))
    res = csp.csp_metrics([target, rocksalt()], [[wrong, near], [None]], n_jobs=1,
                          progress=False)
    assert res["match_rate"] == 0.0 and res["rmse"] is None
    assert res["match_rate_best_of_k"] == 0.5 and 0 < res["rmse_best_of_k"] < 0.05
    assert csp.rms_dist(target, target) == pytest.approx(0.0, abs=1e-8)


def test_sun_flags():
    stable, sun = stability.sun_flags([0.0, 0.05, 0.2, np.nan], [True, True, True, True],
                                      [True, False, True, True])
    assert stable.tolist() == [True, True, False, False]
    assert sun.tolist() == [True, False, False, False]


def test_hhi_and_flags_match_pymatgen():
    from pymatgen.analysis.hhi import HHIModel

    assert hhi("Fe2O3") == pytest.approx(HHIModel().get_hhi("Fe2O3"))
    assert flagged_elements("PbTiO3") == ["Pb", "Ti"] and flagged_elements("NaCl") == []


def test_evaluate_compositions_end_to_end():
    samples = pd.DataFrame({"formula": ["NaCl", "NaCl", "NaCl2", "CuZn"],
                            "e_above_hull": [0.0, 0.0, 0.5, 0.05]})
    reference = pd.DataFrame({"formula": ["CuZn", "KCl"]})
    test = pd.DataFrame({"formula": ["NaCl", "MgO"]})
    r = evaluate(samples, reference=reference, test=test, n_jobs=1, progress=False)
    m = r.metrics
    assert m["n"] == 4 and m["uniqueness"] == 0.75 and m["novelty"] == 0.75
    assert m["compositional_validity"] == 0.75 and m["compositional_validity_strict"] == 0.5
    assert m["structural_validity"] is None and m["cov_recall"] is None
    assert m["recovery"] == 0.5 and m["sun_rate"] == 0.25
    assert r.per_sample["composition_reason"][2].startswith("no combination")


def test_evaluate_structures_end_to_end():
    nacl, sto = rocksalt(), perovskite()
    close = Structure(Lattice.cubic(5.0), ["Na", "Cl"], [[0, 0, 0], [0.06, 0, 0]])
    samples = frame([nacl, nacl.copy(), sto * (1, 1, 2), close])
    reference = frame([sto])
    test = frame([nacl, sto, nacl.copy()])  # a duplicate in the test set is recovered too
    r = evaluate(samples, reference=reference, test=test, targets=frame([sto]), n_jobs=1,
                 progress=False)
    m = r.metrics
    assert m["structural_validity"] == 0.75 and m["validity"] == 0.75
    assert m["uniqueness"] == 0.75  # the copy of NaCl; the 0.3 Å pair differs
    assert m["novelty"] == 0.75  # the perovskite supercell is in the reference
    assert m["recovery"] == 1.0 and m["match_rate"] == 1.0 and m["rmse"] < 1e-6
    assert m["cov_recall"] == 1.0 and m["cov_precision"] == 0.75
    ps = r.per_sample
    assert ps["unique"].tolist() == [True, False, True, True]
    assert ps["novel"].tolist() == [True, True, False, True]
    assert "apart" in ps["structure_reason"][3]
    assert ps["status"].tolist() == ["ok", "ok", "ok", "failed"]
    assert ps["reason"][3].startswith("unphysical structure") and not ps["reason"][0]


def test_process_pool_keeps_order():
    from matforge.metrics.parallel import pmap

    items = list(range(-10, 0))
    assert pmap(abs, items, n_jobs=2, chunksize=3, progress=False) == [abs(i) for i in items]


def test_symmetry_reduced_fingerprint_equals_plain_mean():
    from matforge.metrics.fingerprints import (
        _crystalnn,
        composition_fingerprints,
        structure_fingerprint,
    )

    s = perovskite()
    s.perturb(0.02, seed=1)  # low symmetry: every site its own class
    for struct in (perovskite(), s):
        plain = np.mean([_crystalnn().featurize(struct, i) for i in range(len(struct))], axis=0)
        assert np.allclose(structure_fingerprint(struct), plain, atol=1e-12)
    comp = composition_fingerprints(["SrTiO3", "NaCl"])
    assert comp.shape == (2, 132) and np.isfinite(comp).all()


def test_formula_key_equals_reduced_formula_identity():
    key = matching.formula_key
    assert key("Na2Cl2") == key("ClNa") != key("NaCl2")
    assert key("Ca(OH)2") == key("CaO2H2")
    assert key("NaN") == key("Na1N1")  # sodium nitride, not a missing value
