"""2-D maps of a generator's latent space, coloured by a property.

PCA (the default) is linear, fast and deterministic, so distances along its axes mean the
same everywhere; t-SNE (scikit-learn) keeps local neighbourhoods and shows clusters better
but distorts global distances, and costs about a minute for 5,000 points on one core.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from matforge.errors import MatforgeError

METHODS = ("pca", "tsne")


def project(z: np.ndarray, method: str = "pca", seed: int = 0) -> np.ndarray:
    """(n, d) latent points to (n, 2) map coordinates."""
    z = np.asarray(z, dtype=np.float64)
    if z.ndim != 2 or len(z) < 3:
        raise MatforgeError("a latent map needs at least 3 latent points")
    if not np.isfinite(z).all():
        raise MatforgeError("latent points contain NaN or infinite values")
    if method == "pca":
        from sklearn.decomposition import PCA

        return PCA(2, random_state=seed).fit_transform(z)
    if method == "tsne":
        from sklearn.manifold import TSNE

        perplexity = float(min(30.0, max(2.0, (len(z) - 1) / 3)))
        return TSNE(2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(z)
    raise MatforgeError(f"unknown latent map method {method!r} (choose from {', '.join(METHODS)})")


def plot_latent_map(z: np.ndarray, values: np.ndarray, out_png: str | Path,
                    method: str = "pca", label: str = "property", title: str = "",
                    clip: tuple[float, float] | None = None, seed: int = 0) -> Path:
    """Scatter of the projected latent points coloured by `values` (clipped to `clip`)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xy = project(z, method, seed)
    values = np.asarray(values, dtype=float)
    if clip is not None:
        values = np.clip(values, *clip)
    fig, ax = plt.subplots(figsize=(6, 5))
    sc = ax.scatter(xy[:, 0], xy[:, 1], c=values, s=3, cmap="viridis")
    fig.colorbar(sc, label=label)
    names = {"pca": ("PC 1", "PC 2"), "tsne": ("t-SNE 1", "t-SNE 2")}[method]
    ax.set_xlabel(names[0])
    ax.set_ylabel(names[1])
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=110)
    plt.close(fig)
    return out_png
