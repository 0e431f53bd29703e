"""Fixed-length structure descriptors from the pretrained CHGNet, cached on disk per structure.

Why: a universal potential trained on ~1.5M DFT calculations has already learned which local
environments are stable; its pooled atom features make a structure-aware regression input
that needs no training of the graph network. Computing them is the slow part (tens of ms per
small cell on one core), so each structure's vector is stored under
`$MATFORGE_CACHE_DIR/chgnet_features/` keyed by a hash of the structure itself (lattice,
species, fractional coordinates, rounded) and of the feature version: the same crystal read
from two files hits the cache, any change to a coordinate misses it.

Per structure (196 numbers): CHGNet's crystal feature (mean of the last layer's atom
features, 64), mean and standard deviation over atoms of the previous layer's atom features
(64 + 64), CHGNet's energy per atom, volume per atom, density and the number of atoms.
"""

from __future__ import annotations

import functools
import hashlib
import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from pymatgen.core import Structure
from tqdm.auto import tqdm

from matforge.errors import MatforgeError
from matforge.oracles.potentials import potential_info

FEATURE_VERSION = "chgnet-feas-v1"
N_FEATURES = 64 + 64 + 64 + 4

def feature_names() -> list[str]:
    return ([f"crystal_fea_{i}" for i in range(64)] + [f"atom_fea_mean_{i}" for i in range(64)]
            + [f"atom_fea_std_{i}" for i in range(64)]
            + ["chgnet_energy_per_atom", "volume_per_atom", "density", "n_atoms"])


def structure_key(structure: Structure) -> str:
    """Content hash of a structure (rounded so CIF round trips give the same key)."""
    frac = np.mod(np.round(structure.frac_coords, 5), 1.0)
    frac[np.isclose(frac, 1.0)] = 0.0
    parts = [FEATURE_VERSION, potential_info("chgnet").identity,
             np.round(structure.lattice.matrix, 4).tobytes(),
             np.asarray([sp.Z for sp in structure.species], np.int32).tobytes(),
             np.round(frac, 4).tobytes()]
    h = hashlib.sha256()
    for p in parts:
        h.update(p if isinstance(p, bytes) else str(p).encode())
    return h.hexdigest()


@functools.lru_cache(maxsize=1)
def _cache_root() -> Path:
    from matforge.data.paths import cache_dir

    path = cache_dir() / "chgnet_features"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _model(device: str | None) -> Any:
    from matforge.oracles.potentials import load_chgnet

    return load_chgnet(device)


def _compute(structures: Sequence[Structure], device: str | None,
             batch_size: int) -> list[np.ndarray]:
    import torch

    from matforge.oracles.chgnet_graph import chgnet_graph

    model = _model(device)
    out: list[np.ndarray] = []
    graphs = []
    for i, s in enumerate(structures):
        zs = [sp.Z for sp in s.species]
        if max(zs) > 94:
            raise MatforgeError(f"structure {i} ({s.composition.reduced_formula}): CHGNet has "
                                f"no parameters for Z={max(zs)}")
        try:
            graphs.append(chgnet_graph(s, model.graph_converter))
        except Exception as exc:  # noqa: BLE001 - one line naming the structure
            raise MatforgeError(f"structure {i} ({s.composition.reduced_formula}): CHGNet "
                                f"cannot build its graph ({' '.join(str(exc).split())[:150]})"
                                ) from None
    with torch.no_grad():
        preds = model.predict_graph(graphs, task="e", return_atom_feas=True,
                                    return_crystal_feas=True, batch_size=batch_size)
    if isinstance(preds, dict):
        preds = [preds]
    for s, p in zip(structures, preds):
        atom = np.asarray(p["atom_fea"], dtype=np.float64)
        extra = [float(p["e"]), s.volume / len(s), float(s.density), float(len(s))]
        out.append(np.concatenate([np.asarray(p["crystal_fea"], np.float64).ravel(),
                                   atom.mean(axis=0), atom.std(axis=0), extra]))
    return out


def chgnet_features(structures: Iterable[Structure], device: str | None = None,
                    batch_size: int = 32, cache: bool = True,
                    progress: bool = False) -> np.ndarray:
    """(n, N_FEATURES) CHGNet descriptors; cached ones are read, the others computed."""
    structures = list(structures)
    if not structures:
        raise MatforgeError("no structures given")
    root = _cache_root() if cache else None
    keys = [structure_key(s) for s in structures]
    feats: list[np.ndarray | None] = [None] * len(structures)
    missing: list[int] = []
    for i, key in enumerate(keys):
        path = root / key[:2] / f"{key}.npy" if root is not None else None
        if path is not None and path.exists():
            try:
                feats[i] = np.load(path, allow_pickle=False)
                continue
            except (OSError, ValueError):
                pass  # a torn file: recompute it
        missing.append(i)
    chunk = max(batch_size * 8, 1)
    bar = tqdm(total=len(missing), desc="CHGNet features", unit="structure",
               disable=not progress or not missing)
    for start in range(0, len(missing), chunk):
        idx = missing[start:start + chunk]
        for i, vec in zip(idx, _compute([structures[i] for i in idx], device, batch_size)):
            feats[i] = vec
            if root is not None:
                _atomic_save(root / keys[i][:2] / f"{keys[i]}.npy", vec)
        bar.update(len(idx))
    bar.close()
    return np.stack(feats)


def _atomic_save(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "wb") as fh:
        np.save(fh, array)
    os.replace(tmp, path)
