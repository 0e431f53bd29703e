"""Attributions add up to the prediction, recover a planted effect, and reach the CLI."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from matforge.attributions import element_attributions, grouped, property_groups, tree_attributions
from matforge.surrogates.ensemble import EnsembleSurrogate, feature_names, featurize

FORMULAS = ["NaCl", "KCl", "LiF", "MgO", "CaO", "SrO", "BaO", "ZnO", "Al2O3", "TiO2", "SiO2",
            "GaAs", "InP", "ZnS", "CdTe", "NaBr", "KBr", "CsCl", "LiCl", "MgF2", "CaF2",
            "Fe2O3", "NiO", "CuO", "SnO2", "PbS", "Ag2O", "BN", "AlN", "GaN", "Li2O", "Na2O",
            "K2O", "BeO", "SrF2", "BaF2", "ZnSe", "CdS", "GaP", "InAs"]


def _planted_target(formulas):
    names = feature_names("magpie+fractions")
    X = featurize(formulas)
    return 2.0 * X[:, names.index("mean Electronegativity")] - 3.0 * X[:, names.index("frac O")]


@pytest.fixture(scope="module")
def transport_formulas():
    from matforge.data import load_dataset  # MP transport ships inside matminer

    return list(load_dataset("mp-transport").sample(1500, random_state=0)["formula"])


@pytest.fixture(scope="module")
def trees(transport_formulas):
    model = EnsembleSurrogate(n_members=3, max_iter=80, progress=False)
    return model.fit(transport_formulas, _planted_target(transport_formulas))


def test_tree_attributions_add_up_exactly(trees):
    attr = tree_attributions(trees, FORMULAS)
    assert attr.values.shape == (len(FORMULAS), len(trees.feature_names()))
    np.testing.assert_allclose(attr.mean, trees.predict(FORMULAS)[0], atol=1e-12)
    assert attr.additivity_error() < 1e-6
    groups = grouped(attr)
    assert groups.additivity_error() < 1e-6 and "Electronegativity" in groups.names


def test_treeshap_recovers_a_planted_effect_on_independent_features():
    from sklearn.ensemble import HistGradientBoostingRegressor

    from matforge.surrogates.forest import FlatForest

    rng = np.random.default_rng(0)
    X = rng.random((2000, 12))
    y = 2.0 * X[:, 0] - 3.0 * X[:, 1] + rng.normal(0, 0.02, len(X))
    forest = FlatForest.from_sklearn(HistGradientBoostingRegressor(max_iter=200).fit(X, y))
    values, base = forest.shap_values(X[:300])
    np.testing.assert_allclose(base + values.sum(axis=1), forest.predict(X[:300]), atol=1e-9)
    assert np.abs(values[:, :2]).sum() > 0.97 * np.abs(values).sum()
    for j, w in ((0, 2.0), (1, -3.0)):  # attribution = w (x - E x) for an additive target
        np.testing.assert_allclose(values[:, j], w * (X[:300, j] - X[:, j].mean()), atol=0.12)


def test_tree_attributions_find_the_planted_chemistry(trees, transport_formulas):
    rows = transport_formulas[:300]
    attr = tree_attributions(trees, rows)
    names = attr.names
    for name, w in (("mean Electronegativity", 2.0), ("frac O", -3.0)):
        j = names.index(name)
        contribution = w * featurize(rows)[:, j]
        # correlated Magpie proxies share the credit, but the planted feature follows its term
        assert np.corrcoef(attr.values[:, j], contribution)[0, 1] > 0.8, name
    groups = grouped(attr)
    top = [groups.names[j] for j in np.argsort(-np.abs(groups.values).mean(axis=0))[:4]]
    assert "Electronegativity" in top


def test_element_attributions_are_exact_shapley_values():
    # an additive model over elements: each element's Shapley value is its own term
    weight = {"Na": 1.0, "Cl": -2.0, "Mg": 0.5, "O": 3.0}

    def predict(formulas):
        from pymatgen.core import Composition

        return np.array([sum(weight[e.symbol] for e in Composition(f).elements)
                         for f in formulas])

    attr = element_attributions(predict, ["NaCl", "MgO"])
    assert attr.additivity_error() < 1e-12
    row = dict(zip(attr.names, attr.values[0]))
    base = attr.base_value
    # the empty coalition is worth the base value: it is shared equally by the two elements
    assert row["Na"] == pytest.approx(1.0 - base / 2) and row["Cl"] == pytest.approx(-2.0 - base / 2)
    assert row["Mg"] == 0 and row["O"] == 0  # absent elements get nothing


def test_property_groups_cover_every_column_once():
    names = feature_names("magpie+fractions")
    groups = property_groups(names)
    assert sorted(j for idx in groups.values() for j in idx) == list(range(len(names)))
    assert len(groups["Electronegativity"]) == 6 and len(groups["element fractions"]) == 103


def test_cli_writes_attributions_that_add_up(tmp_path, trees):
    trees.save(tmp_path / "model")
    src = tmp_path / "in.csv"
    pd.DataFrame({"formula": FORMULAS[:8]}).to_csv(src, index=False)
    out = tmp_path / "why.csv"
    run = subprocess.run([sys.executable, "-m", "matforge.cli", "explain", str(src), "--model",
                          str(tmp_path / "model"), "--out", str(out)],
                         check=False, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    frame = pd.read_csv(out)
    shap_cols = [c for c in frame.columns if c.startswith("shap_")]
    assert len(shap_cols) == len(trees.feature_names())
    np.testing.assert_allclose(frame["base_value"] + frame[shap_cols].sum(axis=1),
                               frame["mean"], atol=1e-6)
    groups = pd.read_csv(tmp_path / "why_groups.csv")
    group_cols = [c for c in groups.columns if c.startswith("group_")]
    np.testing.assert_allclose(groups["base_value"] + groups[group_cols].sum(axis=1),
                               groups["mean"], atol=1e-6)
