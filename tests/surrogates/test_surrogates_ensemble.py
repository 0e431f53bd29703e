"""EnsembleSurrogate on real data: accuracy, calibration, inputs, persistence, errors."""

from __future__ import annotations

import numpy as np
import pytest
from pymatgen.core import Composition

from matforge.candidate import Candidate
from matforge.data import load_dataset
from matforge.errors import MatforgeError
from matforge.surrogates import EnsembleSurrogate, Surrogate, load_surrogate
from matforge.surrogates.calibration import StdCalibrator, calibration_report
from matforge.surrogates.ensemble import _Forest, featurize

TARGET = "bulk_modulus"


@pytest.fixture(scope="module")
def bulk() -> dict:
    try:
        return {s: load_dataset("mp-bulk-modulus", s) for s in ("train", "val", "test")}
    except MatforgeError as exc:
        pytest.skip(f"mp-bulk-modulus not available: {exc}")


@pytest.fixture(scope="module")
def fitted(bulk: dict) -> EnsembleSurrogate:
    tr, va = bulk["train"], bulk["val"]
    model = EnsembleSurrogate(n_members=4, seed=0, max_iter=100, target=TARGET, progress=False,
                              n_threads=1)
    return model.fit(list(tr.formula), tr[TARGET].to_numpy(), list(va.formula),
                     va[TARGET].to_numpy())


def test_protocol_and_accuracy_beats_mean_predictor(fitted, bulk):
    assert isinstance(fitted, Surrogate)
    te = bulk["test"]
    y = te[TARGET].to_numpy()
    mean, std = fitted.predict(list(te.formula))
    assert mean.shape == std.shape == (len(te),)
    assert np.all(std > 0)
    baseline = np.abs(y - bulk["train"][TARGET].mean()).mean()
    assert np.abs(y - mean).mean() < 0.5 * baseline


def test_calibrated_coverage_on_held_out_test(fitted, bulk):
    te = bulk["test"]
    report = fitted.evaluate(list(te.formula), te[TARGET].to_numpy())
    assert 0.88 <= report.coverage_95 <= 0.99
    assert 0.55 <= report.coverage_68 <= 0.85
    assert report.miscalibration_area < 0.12
    cal = fitted.info["calibration"]
    # the raw member spread is too narrow; calibration widens it
    assert cal["before"]["coverage_95"] < cal["after"]["coverage_95"]


def test_accepts_formulas_compositions_and_candidates(fitted):
    formulas = ["NaCl", "Fe2O3", "LiFePO4"]
    a = fitted.predict(formulas)
    b = fitted.predict([Composition(f) for f in formulas])
    c = fitted.predict([Candidate(Composition(f)) for f in formulas])
    for other in (b, c):
        np.testing.assert_allclose(a[0], other[0])
        np.testing.assert_allclose(a[1], other[1])


def test_save_load_round_trip(fitted, tmp_path):
    fitted.save(tmp_path / "m")
    assert (tmp_path / "m" / "weights.npz").exists()
    loaded = load_surrogate(tmp_path / "m")
    assert isinstance(loaded, EnsembleSurrogate) and loaded.calibrated
    formulas = ["NaCl", "SrTiO3", "Al2O3", "CuZn"]
    for x, y in zip(fitted.predict(formulas), loaded.predict(formulas)):
        np.testing.assert_allclose(x, y, rtol=0, atol=1e-12)


def test_tree_export_matches_sklearn(bulk):
    from sklearn.ensemble import HistGradientBoostingRegressor
    from threadpoolctl import threadpool_limits

    tr = bulk["train"].iloc[:1500]
    X = featurize(list(tr.formula))
    X[::7, 3] = np.nan  # exercise the missing-value branch
    with threadpool_limits(limits=1, user_api="openmp"):
        model = HistGradientBoostingRegressor(max_iter=30, random_state=0).fit(X, tr[TARGET])
    np.testing.assert_allclose(_Forest.from_sklearn(model).predict(X), model.predict(X),
                               rtol=0, atol=1e-9)


def test_same_seed_same_output(bulk):
    tr = bulk["train"].iloc[:600]
    preds = []
    for _ in range(2):
        m = EnsembleSurrogate(n_members=2, seed=3, max_iter=20, progress=False, n_threads=1)
        preds.append(m.fit(list(tr.formula), tr[TARGET]).predict(["MgO", "TiO2"]))
    np.testing.assert_array_equal(preds[0][0], preds[1][0])
    np.testing.assert_array_equal(preds[0][1], preds[1][1])


def test_user_errors_are_matforge_errors(bulk):
    m = EnsembleSurrogate(n_members=2, progress=False)
    with pytest.raises(MatforgeError):
        m.predict(["NaCl"])  # not fitted
    with pytest.raises(MatforgeError):
        EnsembleSurrogate(n_members=1)
    tr = bulk["train"].iloc[:100]
    with pytest.raises(MatforgeError):
        m.fit(list(tr.formula), tr[TARGET].to_numpy()[:50])
    with pytest.raises(MatforgeError):
        m.fit(["NaCl", "Xx2O"] * 10, np.ones(20))


def test_calibration_report_on_gaussian_draws():
    rng = np.random.default_rng(0)
    std = rng.uniform(0.1, 2.0, 20000)
    y = rng.normal(0.0, std)
    report = calibration_report(y, np.zeros_like(y), std)
    assert abs(report.coverage_68 - 0.6827) < 0.015
    assert abs(report.coverage_95 - 0.9545) < 0.01
    assert report.miscalibration_area < 0.01
    # an over-confident std (x0.5) is recovered by the calibrator
    cal = StdCalibrator().fit(y, np.zeros_like(y), 0.5 * std)
    assert abs(cal.scale - 2.0) < 0.1 and cal.floor < 0.1
