"""The binned calibrator and the cross-fitted choice between calibrators."""

from __future__ import annotations

import numpy as np

from matforge.surrogates.calibration import (
    BinnedStdCalibrator,
    StdCalibrator,
    calibration_report,
    calibrator_from_dict,
    fit_calibrator,
)


def zero_inflated(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Errors like a band-gap model's: most points (metals) small spread and tiny errors, a
    few of them badly wrong; the rest large errors that grow with the spread."""
    rng = np.random.default_rng(seed)
    metal = rng.random(n) < 0.8
    raw = np.where(metal, rng.uniform(0.005, 0.02, n), rng.uniform(0.1, 0.5, n))
    wrong = rng.random(n) < 0.05
    err = np.where(metal, rng.normal(0, 0.01, n) + wrong * rng.normal(0, 1.0, n),
                   rng.normal(0, 1, n) * raw * 2)
    return err, raw


def test_binned_calibrator_fixes_zero_inflated_over_coverage():
    y_val, s_val = zero_inflated(3000, 0)
    y_test, s_test = zero_inflated(3000, 1)
    zeros = np.zeros_like(y_test)
    plain = StdCalibrator().fit(y_val, np.zeros_like(y_val), s_val)
    binned = BinnedStdCalibrator().fit(y_val, np.zeros_like(y_val), s_val)
    r_plain = calibration_report(y_test, zeros, plain(s_test))
    r_binned = calibration_report(y_test, zeros, binned(s_test))
    assert r_plain.coverage_68 > 0.85  # the global scale over-covers
    assert abs(r_binned.coverage_68 - 0.68) < 0.05
    assert 0.90 <= r_binned.coverage_95 <= 0.98
    assert r_binned.miscalibration_area < r_plain.miscalibration_area / 4
    # calibrated std never falls as the raw spread grows
    grid = np.geomspace(1e-3, 1.0, 200)
    assert np.all(np.diff(binned(grid)) >= -1e-12)


def test_fit_calibrator_picks_by_held_out_miscalibration():
    y, s = zero_inflated(3000, 2)
    assert isinstance(fit_calibrator(y, np.zeros_like(y), s), BinnedStdCalibrator)
    rng = np.random.default_rng(3)
    std = rng.uniform(0.1, 2.0, 3000)
    y = rng.normal(0.0, std)
    cal = fit_calibrator(y, np.zeros_like(y), 0.5 * std)
    report = calibration_report(y, np.zeros_like(y), cal(0.5 * std))
    assert abs(report.coverage_68 - 0.68) < 0.03  # either kind is fine on Gaussian errors


def test_calibrators_round_trip_through_dicts():
    y, s = zero_inflated(1000, 4)
    for cal in (StdCalibrator().fit(y, np.zeros_like(y), s),
                BinnedStdCalibrator().fit(y, np.zeros_like(y), s)):
        again = calibrator_from_dict(cal.to_dict())
        assert type(again) is type(cal)
        np.testing.assert_allclose(again(s), cal(s))
    assert calibrator_from_dict(None)(np.array([0.3]))[0] == 0.3
