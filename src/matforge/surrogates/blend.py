"""A blend of the two composition surrogates: boosted trees on Magpie features and the
attention model over element embeddings.

The two make different mistakes (hand-made descriptors against learned element
interactions), so a weighted mean of their predictions is more accurate than either. The
weight is chosen on the held-out calibration data, never on test. The raw std is the spread
of the two-member mixture (each member's calibrated std plus the disagreement of their
means), and is then calibrated on the same held-out data like every surrogate here.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from matforge.errors import MatforgeError
from matforge.model_dir import write_config
from matforge.surrogates.attention import AttentionSurrogate
from matforge.surrogates.base import CalibratedPredictions, as_targets, composition_keys
from matforge.surrogates.calibration import CalibrationReport, StdCalibrator
from matforge.surrogates.ensemble import EnsembleSurrogate

WEIGHT_GRID = np.linspace(0.0, 1.0, 21)  # candidate weights of the tree ensemble


def mixture(w: float, means: tuple[np.ndarray, np.ndarray],
            stds: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std of the mixture w * N(m1, s1) + (1 - w) * N(m2, s2)."""
    (m1, m2), (s1, s2) = means, stds
    mean = w * m1 + (1.0 - w) * m2
    var = w * s1**2 + (1.0 - w) * s2**2 + w * (1.0 - w) * (m1 - m2) ** 2
    return mean, np.sqrt(var)


class BlendSurrogate(CalibratedPredictions):
    """Weighted mean of an `EnsembleSurrogate` and an `AttentionSurrogate`; `predict` ->
    (mean, std). `max_minutes` is the attention model's training budget; `ensemble` and
    `attention` take extra parameters for each member."""

    kind = "blend"

    def __init__(self, seed: int = 0, max_minutes: float = 10.0, target: str = "target",
                 progress: bool = True, ensemble: dict[str, Any] | None = None,
                 attention: dict[str, Any] | None = None):
        self.params = {"seed": seed, "max_minutes": max_minutes, "ensemble": ensemble or {},
                       "attention": attention or {}}
        self.target = target
        self.progress = progress
        self.members: tuple[EnsembleSurrogate, AttentionSurrogate] | None = None
        self.weight = 0.5
        self.calibrator = StdCalibrator()
        self.calibrated = False
        self.info: dict[str, Any] = {}

    def _new_members(self) -> tuple[EnsembleSurrogate, AttentionSurrogate]:
        p = self.params
        common = {"seed": p["seed"], "target": self.target, "progress": self.progress}
        return (EnsembleSurrogate(**common, **p["ensemble"]),
                AttentionSurrogate(**common, max_minutes=p["max_minutes"], **p["attention"]))

    def fit(self, X: Iterable[Any], y: Iterable[float], X_val: Iterable[Any] | None = None,
            y_val: Iterable[float] | None = None) -> BlendSurrogate:
        """Fit both members on (X, y); with held-out data the attention model keeps its best
        epoch on it, and the weight and the std are then set on it (`calibrate`)."""
        keys = composition_keys(X)
        target = as_targets(y, len(keys))
        val_keys = composition_keys(X_val) if X_val is not None and y_val is not None else None
        trees, attention = self._new_members()
        trees.fit(keys, target)
        attention.fit(keys, target, val_keys, y_val)  # no held-out data: val_keys is None
        self.members = (trees, attention)
        self.info = {"n_train": len(keys), "fit_seconds": {
            "ensemble": trees.info["fit_seconds"], "attention": attention.info["fit_seconds"]}}
        self.calibrator, self.calibrated = StdCalibrator(), False
        if val_keys is not None:
            self.calibrate(val_keys, y_val)
        return self

    def calibrate(self, X_val: Iterable[Any], y_val: Iterable[float]) -> CalibrationReport:
        """Calibrate each member, choose the weight by MAE, then calibrate the blend's std,
        all on the same held-out data."""
        members = self._fitted_members()
        keys = composition_keys(X_val)
        y = as_targets(y_val, len(keys))
        # each member predicts val once: its raw spread calibrates it, and its calibrated
        # std then enters the mixture
        means, stds = [], []
        for member in members:
            mean, raw = member.predict_raw(keys)
            member.calibrate_predictions(y, mean, raw)
            means.append(mean)
            stds.append(member.calibrator(raw))
        maes = [float(np.abs(w * means[0] + (1 - w) * means[1] - y).mean()) for w in WEIGHT_GRID]
        self.weight = float(WEIGHT_GRID[int(np.argmin(maes))])
        self.info["weight_choice"] = {"ensemble_weight": self.weight,
                                      "val_mae_by_weight": dict(zip(
                                          (f"{w:.2f}" for w in WEIGHT_GRID), maes))}
        return self.calibrate_predictions(y, *mixture(self.weight, tuple(means), tuple(stds)))

    def _fitted_members(self) -> tuple[EnsembleSurrogate, AttentionSurrogate]:
        if self.members is None:
            raise MatforgeError("the surrogate is not fitted (call fit or load)")
        return self.members

    def predict_raw(self, X: Iterable[Any]) -> tuple[np.ndarray, np.ndarray]:
        keys = composition_keys(X)
        (m1, s1), (m2, s2) = (m.predict(keys) for m in self._fitted_members())
        return mixture(self.weight, (m1, m2), (s1, s2))

    def save(self, path: str | Path, **extra: Any) -> Path:
        """config.json with the weight and calibration; each member in its own directory."""
        members = self._fitted_members()
        path = write_config(path, self.kind, target=self.target, params=self.params,
                            weight=self.weight, calibrator=self.calibrator.to_dict(),
                            calibrated=self.calibrated, info=self.info, **extra)
        for name, member in zip(("ensemble", "attention"), members):
            member.save(path / name)
        return path

    @classmethod
    def load(cls, path: str | Path) -> BlendSurrogate:
        path = Path(path)
        cfg = cls.read_saved_config(path)
        model = cls(**cfg["params"], target=cfg.get("target", "target"), progress=False)
        model.members = (EnsembleSurrogate.load(path / "ensemble"),
                         AttentionSurrogate.load(path / "attention"))
        model.weight = float(cfg["weight"])
        model.restore_calibration(cfg)
        return model
