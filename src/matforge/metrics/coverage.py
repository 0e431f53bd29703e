"""Coverage recall and precision (COV-R, COV-P) as CDVAE's `compute_cov` defines them.

With structure fingerprints (CrystalNN) and scaled composition fingerprints (Magpie) for the
samples and a test set, a test crystal is *covered* when some sample lies within
`struc_cutoff` (Euclidean, structure) AND `comp_cutoff` (composition) of it:

- COV-R = mean over test crystals of [min_sample d_struc <= δ_s and min_sample d_comp <= δ_c]
- COV-P = (number of samples with a test crystal within both cutoffs) / (number of samples),
  samples whose fingerprint failed counted in the denominator, as CDVAE does.

Each minimum is taken separately per fingerprint, exactly as in CDVAE. Cutoffs from CDVAE's
`scripts/compute_metrics.py` (`COV_Cutoffs`): MP-20 0.4 / 10, Carbon-24 0.2 / 4,
Perov-5 0.2 / 4 (structure / composition).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.spatial.distance import cdist

COV_CUTOFFS: dict[str, tuple[float, float]] = {
    "mp-20": (0.4, 10.0),
    "mpts-52": (0.4, 10.0),
    "carbon-24": (0.2, 4.0),
    "perov-5": (0.2, 4.0),
}
DEFAULT_CUTOFFS = COV_CUTOFFS["mp-20"]


def cutoffs_for(dataset: str | None) -> tuple[float, float]:
    """CDVAE's (structure, composition) cutoffs for a test set; MP-20's for anything else."""
    return COV_CUTOFFS.get(str(dataset).lower().replace("_", "-"), DEFAULT_CUTOFFS)


def coverage(sample_struct: Sequence[np.ndarray | None], sample_comp: np.ndarray,
             test_struct: Sequence[np.ndarray | None], test_comp: np.ndarray,
             struc_cutoff: float, comp_cutoff: float) -> dict[str, float]:
    """COV-R and COV-P; also returns the per-sample 'precise' flags as a list."""
    n_samples = len(sample_struct)
    keep = [i for i, f in enumerate(sample_struct) if f is not None]
    tkeep = [i for i, f in enumerate(test_struct) if f is not None]
    flags = np.zeros(n_samples, dtype=bool)
    if not keep or not tkeep or n_samples == 0:
        return {"cov_recall": 0.0, "cov_precision": 0.0, "precise": flags.tolist()}
    s_fp = np.stack([sample_struct[i] for i in keep])
    t_fp = np.stack([test_struct[i] for i in tkeep])
    s_cp = np.asarray(sample_comp)[keep]
    t_cp = np.asarray(test_comp)[tkeep]
    d_struc = cdist(s_fp, t_fp)
    d_comp = cdist(s_cp, t_cp)
    recall = np.mean((d_struc.min(axis=0) <= struc_cutoff) & (d_comp.min(axis=0) <= comp_cutoff))
    precise = (d_struc.min(axis=1) <= struc_cutoff) & (d_comp.min(axis=1) <= comp_cutoff)
    flags[keep] = precise
    return {"cov_recall": float(recall), "cov_precision": float(precise.sum() / n_samples),
            "precise": flags.tolist()}
