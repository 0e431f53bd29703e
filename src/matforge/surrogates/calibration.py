"""Calibrating and scoring predictive uncertainty.

A raw ensemble spread is a ranking of confidence, not a standard deviation: it is usually
too small. `StdCalibrator` fits `std' = sqrt((a * std)^2 + b^2)` on held-out data by
Gaussian negative log-likelihood (a scale, plus a floor for points where all members agree).
`calibration_report` gives the figures the issue asks for: coverage of the central 68% and
95% Gaussian intervals, and the miscalibration area (mean |observed - expected| coverage
over central intervals from 1% to 99%, as in Uncertainty Toolbox).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import optimize, stats


@dataclass
class CalibrationReport:
    n: int
    mae: float
    rmse: float
    coverage_68: float
    coverage_95: float
    miscalibration_area: float
    nll: float
    spearman_abs_err_std: float

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def calibration_report(y: np.ndarray, mean: np.ndarray, std: np.ndarray) -> CalibrationReport:
    """Errors and calibration of Gaussian predictions (mean, std) against truth y."""
    y, mean, std = (np.asarray(a, dtype=float).ravel() for a in (y, mean, std))
    std = np.maximum(std, 1e-12)
    err = y - mean
    z = np.abs(err) / std
    levels = np.linspace(0.01, 0.99, 99)
    observed = np.array([(z <= stats.norm.ppf(0.5 + p / 2)).mean() for p in levels])
    nll = 0.5 * np.log(2 * np.pi * std**2) + 0.5 * (err / std) ** 2
    rho = stats.spearmanr(np.abs(err), std).statistic if len(y) > 2 else float("nan")
    return CalibrationReport(
        n=len(y), mae=float(np.abs(err).mean()), rmse=float(np.sqrt((err**2).mean())),
        coverage_68=float((z <= stats.norm.ppf(0.84)).mean()),
        coverage_95=float((z <= stats.norm.ppf(0.975)).mean()),
        miscalibration_area=float(np.abs(observed - levels).mean()),
        nll=float(nll.mean()), spearman_abs_err_std=float(rho))


@dataclass
class StdCalibrator:
    """std' = sqrt((scale * std)^2 + floor^2), fitted by Gaussian NLL on held-out data."""

    scale: float = 1.0
    floor: float = 0.0

    def fit(self, y: np.ndarray, mean: np.ndarray, std: np.ndarray) -> StdCalibrator:
        y, mean, std = (np.asarray(a, dtype=float).ravel() for a in (y, mean, std))
        err2 = (y - mean) ** 2
        s2 = std**2
        rms = float(np.sqrt(err2.mean())) + 1e-12

        def nll(params: np.ndarray) -> float:
            a2, b2 = np.exp(params)  # positive a^2, b^2
            var = a2 * s2 + b2
            return float(np.mean(np.log(var) + err2 / var))

        start = np.log([max(err2.mean() / max(s2.mean(), 1e-24), 1e-12), (0.1 * rms) ** 2])
        res = optimize.minimize(nll, start, method="Nelder-Mead",
                                options={"xatol": 1e-6, "fatol": 1e-9, "maxiter": 2000})
        a2, b2 = np.exp(res.x)
        self.scale, self.floor = float(np.sqrt(a2)), float(np.sqrt(b2))
        return self

    def __call__(self, std: np.ndarray) -> np.ndarray:
        std = np.asarray(std, dtype=float)
        return np.sqrt((self.scale * std) ** 2 + self.floor**2)

    def to_dict(self) -> dict[str, float]:
        return {"scale": self.scale, "floor": self.floor}

    @classmethod
    def from_dict(cls, d: dict[str, float] | None) -> StdCalibrator:
        d = d or {}
        return cls(scale=float(d.get("scale", 1.0)), floor=float(d.get("floor", 0.0)))
