"""BlendSurrogate: the weight is chosen on held-out data, the std is a calibrated mixture,
and the model round-trips through its directory."""

from __future__ import annotations

import numpy as np
import pytest

from matforge.errors import MatforgeError
from matforge.surrogates import load_surrogate
from matforge.surrogates.blend import WEIGHT_GRID, BlendSurrogate, mixture

TARGET = "bulk_modulus"


def test_mixture_moments():
    m1, m2 = np.array([1.0, 0.0]), np.array([3.0, 0.0])
    s1, s2 = np.array([1.0, 2.0]), np.array([1.0, 2.0])
    mean, std = mixture(1.0, (m1, m2), (s1, s2))
    np.testing.assert_allclose(mean, m1)
    np.testing.assert_allclose(std, s1)
    mean, std = mixture(0.5, (m1, m2), (s1, s2))
    np.testing.assert_allclose(mean, [2.0, 0.0])
    # two unit Gaussians 2 apart: variance 1 + 0.25 * 4 = 2
    np.testing.assert_allclose(std, [np.sqrt(2.0), 2.0])


def test_blend_fit_weight_save_load(tmp_path, fixture_data, use_fixture_data):
    # 48 train and 24 val rows of mp-bulk-modulus (tests/data/fixtures)
    tr = fixture_data.load("mp-bulk-modulus", "train")
    va = fixture_data.load("mp-bulk-modulus", "val")
    model = BlendSurrogate(target=TARGET, progress=False,
                           ensemble={"n_members": 2, "max_iter": 30},
                           attention={"d_model": 32, "n_layers": 1, "heads": 2, "epochs": 3,
                                      "batch_size": 64, "device": "cpu"})
    model.fit(list(tr.formula), tr[TARGET], list(va.formula), va[TARGET])
    assert model.calibrated and model.weight in WEIGHT_GRID
    maes = model.info["weight_choice"]["val_mae_by_weight"]
    # the chosen weight is the grid's best on val, so never worse than either member alone
    assert maes[f"{model.weight:.2f}"] == min(maes.values())
    assert maes[f"{model.weight:.2f}"] <= min(maes["0.00"], maes["1.00"])
    mean, std = model.predict(list(va.formula))
    assert mean.shape == std.shape == (len(va),) and np.all(std > 0)
    model.save(tmp_path / "blend")
    assert (tmp_path / "blend" / "ensemble" / "weights.npz").exists()
    loaded = load_surrogate(tmp_path / "blend")
    assert isinstance(loaded, BlendSurrogate) and loaded.weight == model.weight
    with pytest.raises(MatforgeError, match="holds a 'attention' surrogate"):
        BlendSurrogate.load(tmp_path / "blend" / "attention")
    for a, b in zip(model.predict(["NaCl", "SiO2"]), loaded.predict(["NaCl", "SiO2"])):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_unfitted_blend_refuses():
    with pytest.raises(MatforgeError, match="not fitted"):
        BlendSurrogate().predict(["NaCl"])
