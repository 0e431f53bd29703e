"""AttentionSurrogate: trains on real compositions, predicts mean and std, round-trips."""

from __future__ import annotations

import numpy as np
import pytest

from matforge.surrogates import load_surrogate
from matforge.surrogates.attention import AttentionSurrogate, mat2vec_table

TARGET = "bulk_modulus"


@pytest.fixture(scope="module")
def small(fixture_data) -> tuple:
    """48 train and 24 val rows of mp-bulk-modulus (tests/data/fixtures)."""
    return (fixture_data.load("mp-bulk-modulus", "train"),
            fixture_data.load("mp-bulk-modulus", "val"))


@pytest.mark.parametrize("embedding", ["mat2vec", "learned"])
def test_fit_predict_save_load(small, use_fixture_data, tmp_path, embedding):
    tr, va = small
    model = AttentionSurrogate(d_model=32, n_layers=1, heads=2, epochs=3, batch_size=64,
                               embedding=embedding, target=TARGET, progress=False, device="cpu")
    model.fit(list(tr.formula), tr[TARGET], list(va.formula), va[TARGET])
    assert model.embedding_used == embedding  # the fixture folder holds a mat2vec table
    mean, std = model.predict(list(va.formula))
    assert mean.shape == std.shape == (len(va),) and np.all(std > 0)
    assert model.calibrated and "calibration" in model.info
    model.save(tmp_path / "attn")
    loaded = load_surrogate(tmp_path / "attn")
    for a, b in zip(model.predict(["NaCl", "SiO2"]), loaded.predict(["NaCl", "SiO2"])):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_three_epochs_on_400_rows_beat_the_mean(full_dataset):
    """With either embedding (mat2vec from the shared element table, or learned)."""
    tr = full_dataset("mp-bulk-modulus", "train").iloc[:400]
    va = full_dataset("mp-bulk-modulus", "val").iloc[:150]
    y = va[TARGET].to_numpy()
    for embedding in ("mat2vec", "learned"):
        model = AttentionSurrogate(d_model=32, n_layers=1, heads=2, epochs=3, batch_size=64,
                                   embedding=embedding, target=TARGET, progress=False,
                                   device="cpu")
        model.fit(list(tr.formula), tr[TARGET], list(va.formula), va[TARGET])
        expected = "mat2vec" if embedding == "mat2vec" and mat2vec_table() is not None \
            else "learned"
        assert model.embedding_used == expected
        mean, _ = model.predict(list(va.formula))
        assert np.abs(mean - y).mean() < np.abs(y - tr[TARGET].mean()).mean(), embedding


def test_mat2vec_table_aligned_with_elements(use_fixture_data):
    import pandas as pd

    from matforge.representations.composition import ELEMENTS

    rows = pd.read_csv(use_fixture_data / "element_properties" / "mat2vec.csv", index_col=0,
                       keep_default_na=False)  # H to Zr, 40 of CrabNet's rows
    table = mat2vec_table()
    assert table.shape == (103, 200)
    assert np.abs(table[0]).sum() > 0  # H has a vector
    for i, el in enumerate(ELEMENTS):
        want = rows.loc[el].to_numpy(np.float32) if el in rows.index else np.zeros(200)
        np.testing.assert_array_equal(table[i], want, err_msg=el)
