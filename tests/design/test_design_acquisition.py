"""Sample-based batch acquisition: hypervolume improvement and greedy qEHVI."""

from __future__ import annotations

import numpy as np
import pytest

from matforge.design.acquisition import greedy_qehvi, hypervolume_improvement_2d
from matforge.design.objectives import hypervolume


def test_hypervolume_improvement_matches_recomputed_hypervolume() -> None:
    rng = np.random.default_rng(0)
    ref = np.array([-0.5, -0.5])
    front = rng.random((7, 2))
    points = rng.random((200, 2)) * 1.3 - 0.15  # some dominated, some below ref
    fast = hypervolume_improvement_2d(points, front, ref)
    base = hypervolume(front, ref)
    slow = [hypervolume(np.vstack([front, p]), ref) - base for p in points]
    assert np.allclose(fast, slow, atol=1e-12)
    assert np.allclose(hypervolume_improvement_2d(points, np.zeros((0, 2)), ref),
                       [hypervolume(p[None], ref) for p in points])


def test_greedy_qehvi_spreads_the_batch_along_the_front() -> None:
    # certain samples (all members agree): after the best point of a cluster near one corner,
    # the far corner adds more than the cluster's near-duplicates
    observed = np.array([[0.0, 0.0]])
    cands = np.array([[1.0, 0.1], [0.98, 0.12], [0.97, 0.11], [0.1, 0.9]])
    samples = np.repeat(cands[None], 4, axis=0)
    idx, gains = greedy_qehvi(samples, observed, q=2)
    assert idx[0] in (0, 1, 2) and idx[1] == 3
    assert gains[0] >= gains[1] > 0
    cands = np.vstack([cands, [0.5, 0.5]])  # a balanced point dominates more than a corner
    idx, _ = greedy_qehvi(np.repeat(cands[None], 4, axis=0), observed, q=1)
    assert idx[0] == 4
    # uncertain samples: the expectation counts each member's own front
    rng = np.random.default_rng(1)
    noisy = samples + rng.normal(0, 0.05, size=samples.shape)
    idx, _ = greedy_qehvi(noisy, observed, q=9)  # asks more than there are: each once
    assert sorted(idx.tolist()) == [0, 1, 2, 3]
    with pytest.raises(ValueError):
        greedy_qehvi(np.zeros((2, 3, 3)), np.zeros((1, 3)), q=1)
