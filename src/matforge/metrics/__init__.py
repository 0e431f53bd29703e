"""matforge.metrics: the evaluation metrics of the field, one module per family.

validity (CDVAE), matching (uniqueness/novelty identity), coverage (COV-R/COV-P),
distributions (Wasserstein distances), csp (match rate, RMSE), stability (S.U.N.),
recovery, cost (HHI, critical/toxic elements); `suite.evaluate` runs them all.
"""

from matforge.metrics.suite import METRIC_KEYS, EvaluationResult, evaluate, load_set
from matforge.metrics.validity import compositional_validity, structural_validity

__all__ = [
           "METRIC_KEYS",
           "EvaluationResult",
           "compositional_validity",
           "evaluate",
           "load_set",
           "structural_validity",
]
