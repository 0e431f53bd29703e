"""Pretrained composition features: fitting on the fixture rows, storage, surrogates that use
them, the small-data warnings, the CLI, and the shipped model's card."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from matforge.errors import MatforgeError
from matforge.surrogates import EnsembleSurrogate
from matforge.surrogates.pretrained import PRETRAIN_TASKS, CompositionPretrained
from matforge.surrogates.train import small_data_warnings

TASKS = [("mp-e-hull", "e_above_hull"), ("oqmd-bandgap", "band_gap")]


@pytest.fixture(scope="module")
def small_pretrained(tmp_path_factory, fixture_data):
    with fixture_data.active():
        model = CompositionPretrained(TASKS, max_iter=20, min_samples_leaf=3,
                                      progress=False).fit()
    return model.save(tmp_path_factory.mktemp("pre") / "pretrained")


def test_fit_save_load_transform(small_pretrained):
    model = CompositionPretrained.load(small_pretrained)
    feats = model.transform(["NaCl", "GaAs", "Fe2O3"])
    assert feats.shape == (3, 2) and np.isfinite(feats).all()
    assert model.feature_names() == ["pretrained mp-e-hull e_above_hull",
                                     "pretrained oqmd-bandgap band_gap"]
    assert set(model.info["tasks"]) == {"mp-e-hull e_above_hull", "oqmd-bandgap band_gap"}
    with pytest.raises(MatforgeError, match="not fitted"):
        CompositionPretrained(TASKS).transform(["NaCl"])


def test_surrogate_appends_the_pretrained_features(small_pretrained, tmp_path):
    formulas = ["NaCl", "KCl", "LiF", "MgO", "CaO", "SrO", "BaO", "ZnO", "GaAs", "InP", "ZnS",
                "CdTe"]
    y = np.linspace(0, 5, len(formulas))
    sur = EnsembleSurrogate(n_members=2, max_iter=10, min_samples_leaf=2, progress=False,
                            pretrained=str(small_pretrained)).fit(formulas, y)
    names = sur.feature_names()
    assert names[-2:] == ["pretrained mp-e-hull e_above_hull", "pretrained oqmd-bandgap band_gap"]
    assert sur.features(formulas).shape == (len(formulas), len(names))
    sur.save(tmp_path / "s")
    again = EnsembleSurrogate.load(tmp_path / "s")
    np.testing.assert_allclose(again.predict(formulas)[0], sur.predict(formulas)[0])


def test_small_data_warnings():
    assert small_data_warnings(500, 100) == []
    assert any("wide uncertainty" in w for w in small_data_warnings(30, 100))
    assert any("calibrated on only 8" in w for w in small_data_warnings(500, 8))


def test_cli_trains_from_pretrained_and_warns_on_small_data(small_pretrained, tmp_path):
    rng = np.random.default_rng(0)
    rows = ["NaCl", "KCl", "LiF", "MgO", "CaO", "SrO", "BaO", "ZnO", "GaAs", "InP", "ZnS",
            "CdTe", "NaBr", "KBr", "CsCl", "LiCl", "MgF2", "CaF2", "Fe2O3", "NiO"]
    data = tmp_path / "mine.csv"
    pd.DataFrame({"formula": rows, "hardness": rng.random(len(rows))}).to_csv(data, index=False)
    run = subprocess.run(
        [sys.executable, "-m", "matforge.cli", "train", "surrogate", "--data", str(data),
         "--target", "hardness", "--out", str(tmp_path / "m"), "--pretrained",
         str(small_pretrained), "--members", "2", "--train-split", "all", "--val-split", "all",
         "--test-split", "none"], capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr
    assert "wide uncertainty" in run.stderr
    cfg = json.loads((tmp_path / "m" / "config.json").read_text())
    choice = cfg["run"]["pretrained_choice"]  # both starts fitted, the better on val kept
    assert choice["kept"] == ("pretrained" if choice["val_mae_pretrained"]
                              <= choice["val_mae_scratch"] else "scratch")
    assert (cfg["params"].get("pretrained") == str(small_pretrained)) == \
        (choice["kept"] == "pretrained")
    assert f"kept the {choice['kept']} start" in run.stdout
    card = (tmp_path / "m" / "MODEL_CARD.md").read_text()
    assert "warning:" in card and "- start:" in card
    bad = subprocess.run(
        [sys.executable, "-m", "matforge.cli", "train", "surrogate", "--data", str(data),
         "--target", "hardness", "--out", str(tmp_path / "n"), "--pretrained", "auto",
         "--model", "attention"], capture_output=True, text=True, check=False)
    assert bad.returncode != 0 and "composition ensemble only" in bad.stderr + bad.stdout


def test_shipped_pretrained_model_has_no_benchmark_task_and_a_card():
    model = CompositionPretrained.load("composition-pretrained")
    assert model.tasks and all(tuple(t) in PRETRAIN_TASKS for t in model.tasks)
    assert not any(name.startswith("matbench") for name, _ in model.tasks)
    from matforge.model_dir import resolve_model_dir

    card = (resolve_model_dir("composition-pretrained") / "MODEL_CARD.md").read_text()
    assert "train split" in card and "No Matbench set" in card
    feats = model.transform(["NaCl", "Si", "Fe"])
    gap = feats[:, model.feature_names().index("pretrained oqmd-bandgap band_gap")]
    assert gap[0] > 2.0 and gap[2] < 0.5  # rock salt is an insulator, iron a metal
