"""The surrogate protocol and the shared plumbing: inputs, model directories, loading.

A surrogate maps materials to a property with an uncertainty: `fit(X, y)` and
`predict(X) -> (mean, std)`. Inputs are formulas, Compositions, Candidates or Structures
(composition models use the composition of any of these), so callers never convert.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
from pymatgen.core import Composition, Structure

from matforge import registry
from matforge.candidate import Candidate
from matforge.data.readers import parse_formula
from matforge.errors import MatforgeError
from matforge.model_dir import read_config, resolve_model_dir
from matforge.surrogates.calibration import (
    CalibrationReport,
    calibration_report,
    calibrator_from_dict,
    fit_calibrator,
)


@runtime_checkable
class Surrogate(Protocol):
    """What the design loop needs from a property predictor."""

    def fit(self, X: Iterable[Any], y: Iterable[float]) -> Surrogate: ...

    def predict(self, X: Iterable[Any]) -> tuple[np.ndarray, np.ndarray]: ...


def as_compositions(X: Iterable[Any]) -> list[Composition]:
    """Formulas, Compositions, Candidates or Structures -> Compositions (one clear error if not)."""
    out: list[Composition] = []
    for i, item in enumerate(X):
        if isinstance(item, Composition):
            out.append(item)
        elif isinstance(item, (Candidate, Structure)):
            out.append(item.composition)
        elif isinstance(item, str):
            out.append(parse_formula(item, row=i))
        else:
            raise MatforgeError(f"input {i}: expected a formula, Composition, Candidate or "
                                f"Structure, got {type(item).__name__}")
    if not out:
        raise MatforgeError("no inputs given")
    return out


def composition_keys(X: Iterable[Any]) -> list[Composition | str]:
    """Like `as_compositions`, but formula strings stay strings: the composition encoders
    parse and cache them once, which is twice as fast on large sets."""
    out: list[Composition | str] = []
    for i, item in enumerate(X):
        if isinstance(item, (Composition, str)):
            out.append(item)
        elif isinstance(item, (Candidate, Structure)):
            out.append(item.composition)
        else:
            raise MatforgeError(f"input {i}: expected a formula, Composition, Candidate or "
                                f"Structure, got {type(item).__name__}")
    if not out:
        raise MatforgeError("no inputs given")
    return out


def encode_safely(keys: list[Composition | str], encoder: Any) -> Any:
    """Run a composition encoder; on failure name the first bad input in one line."""
    try:
        return encoder(keys)
    except Exception:
        for i, key in enumerate(keys):
            comp = parse_formula(key, row=i) if isinstance(key, str) else key
            for el in comp.elements:
                if getattr(el, "Z", 999) > 103:
                    raise MatforgeError(f"input {i}: element {el} is outside H..Lr") from None
        raise


def as_targets(y: Iterable[float], n: int) -> np.ndarray:
    arr = np.asarray(list(y) if not isinstance(y, np.ndarray) else y, dtype=float).ravel()
    if arr.shape[0] != n:
        raise MatforgeError(f"{n} inputs but {arr.shape[0]} targets")
    if not np.all(np.isfinite(arr)):
        raise MatforgeError("targets contain NaN or infinite values")
    return arr



class CalibratedPredictions:
    """predict / calibrate / evaluate for a model whose `predict_raw(X)` gives (mean, raw std).

    The raw spread is turned into a calibrated std by a calibrator fitted on held-out data
    (`fit_calibrator`: a global scale and floor, or per-spread-range scales); the class
    using this sets `self.calibrator`, `self.calibrated` and `self.info`.
    """

    def predict(self, X: Iterable[Any]) -> tuple[np.ndarray, np.ndarray]:
        """Mean and (calibrated, once `calibrate` ran) standard deviation per input."""
        mean, raw = self.predict_raw(X)
        return mean, self.calibrator(raw)

    def calibrate(self, X_val: Iterable[Any], y_val: Iterable[float]) -> CalibrationReport:
        """Fit the std calibrator on held-out data; returns the calibrated report on it."""
        mean, raw = self.predict_raw(X_val)
        return self.calibrate_predictions(as_targets(y_val, len(mean)), mean, raw)

    def calibrate_predictions(self, y: np.ndarray, mean: np.ndarray,
                              raw: np.ndarray) -> CalibrationReport:
        """`calibrate` from held-out predictions already made (mean, raw std)."""
        before = calibration_report(y, mean, raw)
        self.calibrator = fit_calibrator(y, mean, raw)
        self.calibrated = True
        after = calibration_report(y, mean, self.calibrator(raw))
        self.info["calibration"] = {"n_val": len(y), "before": before.to_dict(),
                                    "after": after.to_dict(), **self.calibrator.to_dict()}
        return after

    def evaluate(self, X: Iterable[Any], y: Iterable[float]) -> CalibrationReport:
        mean, std = self.predict(X)
        return calibration_report(as_targets(y, len(mean)), mean, std)

    @classmethod
    def read_saved_config(cls, path: Path) -> dict[str, Any]:
        """config.json of a saved model of this class's kind (a clear error for another)."""
        cfg = read_config(path)
        if cfg.get("kind") != cls.kind:
            raise MatforgeError(f"{path}: holds a {cfg.get('kind')!r} surrogate, not {cls.kind!r}")
        return cfg

    def restore_calibration(self, cfg: dict[str, Any]) -> None:
        """Calibrator, calibrated flag and info as `save` wrote them."""
        self.calibrator = calibrator_from_dict(cfg.get("calibrator"))
        self.calibrated = bool(cfg.get("calibrated", False))
        self.info = cfg.get("info", {})


def load_surrogate(path: str | Path) -> Surrogate:
    """Rebuild a saved surrogate of any registered kind (`matforge.registry`) from its
    directory."""
    path = resolve_model_dir(path)
    kind = read_config(path).get("kind")
    try:
        plugin = registry.get("surrogate", str(kind))
    except MatforgeError as exc:
        raise MatforgeError(f"{path}: {exc}") from None
    return plugin.load().load(path)
