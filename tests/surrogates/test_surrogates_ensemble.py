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
from matforge.surrogates.ensemble import featurize
from matforge.surrogates.forest import FlatForest

TARGET = "bulk_modulus"


@pytest.fixture(scope="module")
def bulk(full_dataset) -> dict:
    """The full mp-bulk-modulus splits: the accuracy and coverage figures need them."""
    return {s: full_dataset("mp-bulk-modulus", s) for s in ("train", "val", "test")}


@pytest.fixture(scope="module")
def small(fixture_data) -> dict:
    """48 / 24 / 24 rows of mp-bulk-modulus (tests/data/fixtures): for behaviour that holds
    on any data (inputs, persistence, errors)."""
    return {s: fixture_data.load("mp-bulk-modulus", s) for s in ("train", "val", "test")}


@pytest.fixture(scope="module")
def transport() -> tuple[list[str], np.ndarray]:
    """1,500 mp-transport compositions (ships with matminer) and their log10 power factor:
    enough rows for deep trees, on every machine."""
    frame = load_dataset("mp-transport", split="train").sample(1500, random_state=0)
    return list(frame["formula"]), np.log10(frame["PF_p"].to_numpy())


def _fit(data: dict) -> EnsembleSurrogate:
    tr, va = data["train"], data["val"]
    model = EnsembleSurrogate(n_members=4, seed=0, max_iter=100, target=TARGET, progress=False,
                              n_threads=1)
    return model.fit(list(tr.formula), tr[TARGET].to_numpy(), list(va.formula),
                     va[TARGET].to_numpy())


@pytest.fixture(scope="module")
def fitted(bulk: dict) -> EnsembleSurrogate:
    return _fit(bulk)


@pytest.fixture(scope="module")
def small_fitted(small: dict) -> EnsembleSurrogate:
    return _fit(small)


def test_protocol_shapes_and_positive_std(small_fitted, small):
    assert isinstance(small_fitted, Surrogate) and small_fitted.calibrated
    te = small["test"]
    mean, std = small_fitted.predict(list(te.formula))
    assert mean.shape == std.shape == (len(te),)
    assert np.all(std > 0)


def test_accuracy_and_calibrated_coverage_on_held_out_test(fitted, bulk):
    """The full-data figures: MAE under half the mean predictor's, calibrated intervals."""
    te = bulk["test"]
    y = te[TARGET].to_numpy()
    mean, std = fitted.predict(list(te.formula))
    assert mean.shape == std.shape == (len(te),) and np.all(std > 0)
    baseline = np.abs(y - bulk["train"][TARGET].mean()).mean()
    assert np.abs(y - mean).mean() < 0.5 * baseline
    report = fitted.evaluate(list(te.formula), y)
    assert 0.88 <= report.coverage_95 <= 0.99
    assert 0.55 <= report.coverage_68 <= 0.85
    assert report.miscalibration_area < 0.12
    cal = fitted.info["calibration"]
    # the raw member spread is too narrow; calibration widens it
    assert cal["before"]["coverage_95"] < cal["after"]["coverage_95"]


def test_accepts_formulas_compositions_and_candidates(small_fitted):
    formulas = ["NaCl", "Fe2O3", "LiFePO4"]
    a = small_fitted.predict(formulas)
    b = small_fitted.predict([Composition(f) for f in formulas])
    c = small_fitted.predict([Candidate(Composition(f)) for f in formulas])
    for other in (b, c):
        np.testing.assert_allclose(a[0], other[0])
        np.testing.assert_allclose(a[1], other[1])


def test_save_load_round_trip(small_fitted, tmp_path):
    small_fitted.save(tmp_path / "m")
    assert (tmp_path / "m" / "weights.npz").exists()
    loaded = load_surrogate(tmp_path / "m")
    assert isinstance(loaded, EnsembleSurrogate) and loaded.calibrated
    formulas = ["NaCl", "SrTiO3", "Al2O3", "CuZn"]
    for x, y in zip(small_fitted.predict(formulas), loaded.predict(formulas)):
        np.testing.assert_allclose(x, y, rtol=0, atol=1e-12)


def test_tree_export_matches_sklearn(transport):
    from sklearn.ensemble import HistGradientBoostingRegressor
    from threadpoolctl import threadpool_limits

    formulas, y = transport
    X = featurize(formulas)
    X[::7, 3] = np.nan  # exercise the missing-value branch
    with threadpool_limits(limits=1, user_api="openmp"):
        model = HistGradientBoostingRegressor(max_iter=30, random_state=0).fit(X, y)
    np.testing.assert_allclose(FlatForest.from_sklearn(model).predict(X), model.predict(X),
                               rtol=0, atol=1e-9)


def test_same_seed_same_output(transport):
    formulas, y = transport[0][:600], transport[1][:600]
    preds = []
    for _ in range(2):
        m = EnsembleSurrogate(n_members=2, seed=3, max_iter=20, progress=False, n_threads=1)
        preds.append(m.fit(formulas, y).predict(["MgO", "TiO2"]))
    np.testing.assert_array_equal(preds[0][0], preds[1][0])
    np.testing.assert_array_equal(preds[0][1], preds[1][1])


def test_user_errors_are_matforge_errors(small):
    m = EnsembleSurrogate(n_members=2, progress=False)
    with pytest.raises(MatforgeError):
        m.predict(["NaCl"])  # not fitted
    with pytest.raises(MatforgeError):
        EnsembleSurrogate(n_members=1)
    tr = small["train"]
    with pytest.raises(MatforgeError):
        m.fit(list(tr.formula), tr[TARGET].to_numpy()[:24])
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
