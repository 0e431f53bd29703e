"""Shared model fitting for strategies: tree ensembles (members as samples) and BoTorch GPs."""

from __future__ import annotations

from typing import Any

import numpy as np


def ensemble_samples(train_formulas: list[str], Y: np.ndarray, formulas: list[str], seed: int,
                     members: int = 8, max_iter: int = 150, kind: str = "forest",
                     featurizer: str = "magpie+fractions", pretrained: str | None = None
                     ) -> np.ndarray:
    """(members, n, k) member predictions, one ensemble per objective.

    kind "ensemble": matforge's bootstrap gradient-boosted `EnsembleSurrogate`; kind "forest":
    an extremely randomised trees forest whose trees are the members (SMAC-style), about ten
    times cheaper to refit at every step on small data. `pretrained` ("auto" or a model
    directory): its predictions join the features (`surrogates.pretrained`).
    """
    from threadpoolctl import threadpool_limits

    from matforge.surrogates.ensemble import EnsembleSurrogate

    out = []
    n = len(train_formulas)
    with threadpool_limits(1):  # OpenMP spinning on busy machines costs more than it gives
        if kind == "forest":
            from sklearn.ensemble import ExtraTreesRegressor

            Xt = composition_inputs(train_formulas, featurizer, pretrained)
            Xp = composition_inputs(formulas, featurizer, pretrained)
            for j in range(Y.shape[1]):
                forest = ExtraTreesRegressor(n_estimators=max(members, 16) * 4,
                                             max_features=0.3, min_samples_leaf=1,
                                             random_state=seed + j, n_jobs=1).fit(Xt, Y[:, j])
                out.append(np.stack([t.predict(Xp) for t in forest.estimators_]))
            return np.stack(out, axis=-1)
        for j in range(Y.shape[1]):
            model = EnsembleSurrogate(n_members=members, seed=seed + j, max_iter=max_iter,
                                      min_samples_leaf=max(2, min(10, n // 15)),
                                      learning_rate=0.1, max_leaf_nodes=31,
                                      featurizer=featurizer, pretrained=pretrained,
                                      progress=False)
            model.fit(train_formulas, Y[:, j])
            out.append(model.predict_members(formulas))
    return np.stack(out, axis=-1)


def composition_inputs(formulas: list[str], featurizer: str = "magpie+fractions",
                       pretrained: str | None = None) -> np.ndarray:
    """A strategy surrogate's inputs: composition features, then the pretrained model's
    predictions when one is named ("auto" or a directory)."""
    from matforge.surrogates.ensemble import featurize

    X = featurize(formulas, featurizer)
    if not pretrained:
        return X
    from matforge.surrogates.pretrained import load_pretrained

    return np.hstack([X, load_pretrained(pretrained).transform(formulas)])


class PoolEncoder:
    """Standardised features, optionally projected on the top principal components of the
    pool (unsupervised: the pool's compositions are known; their properties are not)."""

    def __init__(self, pool_feats: np.ndarray, n_components: int | None = 16):
        X = np.asarray(pool_feats, dtype=float)
        self.mu = X.mean(axis=0)
        sd = X.std(axis=0)
        self.keep = sd > 1e-9
        self.sd = np.where(self.keep, sd, 1.0)
        Z = ((X - self.mu) / self.sd)[:, self.keep]
        self.components = None
        if n_components and n_components < Z.shape[1]:
            _, _, vt = np.linalg.svd(Z - Z.mean(axis=0), full_matrices=False)
            self.components = vt[:n_components].T
            self.center = Z.mean(axis=0)

    def __call__(self, feats: np.ndarray) -> np.ndarray:
        Z = ((np.asarray(feats, dtype=float) - self.mu) / self.sd)[:, self.keep]
        if self.components is not None:
            Z = (Z - self.center) @ self.components
        return Z


def fit_gp(train_X: np.ndarray, train_Y: np.ndarray, bounds: np.ndarray | None = None) -> Any:
    """A SingleTaskGP per output (batched), inputs normalised, outputs standardised."""
    import torch
    from botorch.fit import fit_gpytorch_mll
    from botorch.models import SingleTaskGP
    from botorch.models.transforms import Normalize, Standardize
    from gpytorch.mlls import ExactMarginalLogLikelihood

    X = torch.as_tensor(train_X, dtype=torch.double)
    Y = torch.as_tensor(train_Y, dtype=torch.double)
    b = None if bounds is None else torch.as_tensor(bounds, dtype=torch.double)
    model = SingleTaskGP(X, Y, input_transform=Normalize(d=X.shape[-1], bounds=b),
                         outcome_transform=Standardize(m=Y.shape[-1]))
    mll = ExactMarginalLogLikelihood(model.likelihood, model)
    try:
        fit_gpytorch_mll(mll)
    except Exception:  # noqa: BLE001, S110 - keep the prior hyper-parameters if fitting fails
        pass
    return model


def gp_mean_std(model: Any, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    import torch

    with torch.no_grad():
        post = model.posterior(torch.as_tensor(X, dtype=torch.double))
        return post.mean.numpy(), post.variance.clamp_min(0).sqrt().numpy()
