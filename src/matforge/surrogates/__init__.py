"""Property predictors with calibrated uncertainty: `fit(X, y)`, `predict(X) -> (mean, std)`.

`EnsembleSurrogate` (gradient-boosted trees on Magpie features) is the fast default;
`load_surrogate(dir)` rebuilds any saved surrogate from its model directory.
"""

from matforge.surrogates.base import Surrogate, load_surrogate
from matforge.surrogates.calibration import CalibrationReport, calibration_report
from matforge.surrogates.ensemble import EnsembleSurrogate

__all__ = ["CalibrationReport", "EnsembleSurrogate", "Surrogate", "calibration_report",
           "load_surrogate"]
