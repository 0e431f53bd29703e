"""The fingerprints behind CDVAE's coverage metrics (Xie et al. 2022, `eval_utils.py`).

- Structure: the mean over sites of matminer's `CrystalNNFingerprint.from_preset("ops")`
  (61 values per site). Symmetry-equivalent sites have the same fingerprint, so the mean is
  taken over inequivalent sites weighted by multiplicity (spglib, symprec 1e-4: CrystalNN is
  sensitive to tiny distortions, and at 1e-3 one Perov-5 structure already differed by 0.008;
  at 1e-4 the result equals the plain mean to 1e-15 on the cross-check set). A structure
  whose fingerprint fails is None (CDVAE counts it invalid).
- Composition: the 132 Magpie statistics of matminer's `ElementProperty.from_preset("magpie")`
  (`matforge.representations.composition.magpie_features`, first 132 columns), scaled with
  CDVAE's `CompScalerMeans`/`CompScalerStds` (NaN -> 0 after scaling).

Fingerprints of registered reference/test sets are cached on disk (keyed by a hash of the CIFs).
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Sequence
from functools import lru_cache
from importlib import resources

import numpy as np
from pymatgen.core import Composition, Structure

from matforge.metrics.parallel import pmap

N_STRUCT_FP = 61
SYMPREC = 1e-4


@lru_cache(maxsize=1)
def _crystalnn():
    from matminer.featurizers.site import CrystalNNFingerprint

    return CrystalNNFingerprint.from_preset("ops")


def _site_weights(structure: Structure) -> dict[int, int]:
    """Representative site -> multiplicity; every site its own class if symmetry fails."""
    try:
        from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

        eq = SpacegroupAnalyzer(structure, symprec=SYMPREC).get_symmetry_dataset().equivalent_atoms
        reps, counts = np.unique(np.asarray(eq), return_counts=True)
        return {int(r): int(c) for r, c in zip(reps, counts)}
    except Exception:  # noqa: BLE001 - one bad structure must not stop a batch
        return {i: 1 for i in range(len(structure))}


def structure_fingerprint(structure: Structure | str) -> np.ndarray | None:
    """Mean CrystalNN "ops" site fingerprint, or None when CrystalNN fails on the structure."""
    if isinstance(structure, str):
        structure = Structure.from_str(structure, fmt="cif")
    fp = _crystalnn()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            weights = _site_weights(structure)
            total = np.zeros(N_STRUCT_FP)
            for i, w in weights.items():
                total += w * np.asarray(fp.featurize(structure, i), dtype=float)
            return total / sum(weights.values())
        except Exception:  # noqa: BLE001 - one bad structure must not stop a batch
            return None


def structure_fingerprints(structures: Sequence[Structure | str], n_jobs: int | None = None,
                           progress: bool = True) -> list[np.ndarray | None]:
    return pmap(structure_fingerprint, structures, n_jobs=n_jobs, desc="CrystalNN fingerprints",
                progress=progress, chunksize=4)


def cached_structure_fingerprints(cifs: Sequence[str], n_jobs: int | None = None,
                                  progress: bool = True) -> list[np.ndarray | None]:
    """Fingerprints of a fixed set of CIFs (a reference or test set), cached on disk."""
    from matforge.data.paths import cache_dir

    h = hashlib.sha256(f"crystalnn-ops-sym{SYMPREC}".encode())
    for c in cifs:
        h.update(c.encode())
        h.update(b"\0")
    path = cache_dir() / "fingerprints" / f"crystalnn-{h.hexdigest()[:20]}.npy"
    if path.exists():
        arr = np.load(path)
        return [None if np.isnan(row).all() else row for row in arr]
    fps = structure_fingerprints(list(cifs), n_jobs=n_jobs, progress=progress)
    arr = np.array([np.full(N_STRUCT_FP, np.nan) if f is None else f for f in fps])
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, arr)
    tmp.replace(path)
    return fps


@lru_cache(maxsize=1)
def cdvae_comp_scaler() -> tuple[np.ndarray, np.ndarray]:
    text = resources.files("matforge").joinpath("assets/metrics/cdvae_comp_scaler.json").read_text()
    data = json.loads(text)
    return np.asarray(data["means"], dtype=float), np.asarray(data["stds"], dtype=float)


def composition_fingerprints(compositions: Sequence[Composition | str]) -> np.ndarray:
    """(n, 132) Magpie ElementProperty features scaled as CDVAE scales them."""
    from matforge.representations.composition import magpie_features

    raw = np.asarray(magpie_features(list(compositions)), dtype=float)[:, :132]
    means, stds = cdvae_comp_scaler()
    scaled = (raw - means) / stds
    return np.where(np.isnan(scaled), 0.0, scaled)
