"""`matforge train surrogate` and `matforge predict` end to end on real data: the data set
name resolves to the few mp-bulk-modulus rows committed under tests/data/fixtures."""

from __future__ import annotations

import pandas as pd
from typer.testing import CliRunner

from matforge.cli import app
from matforge.errors import MatforgeError
from matforge.model_dir import read_config


def test_train_then_predict(tmp_path, use_fixture_data):
    runner = CliRunner()
    model = tmp_path / "bulk"
    res = runner.invoke(app, ["train", "surrogate", "--data", "mp-bulk-modulus", "--target",
                              "bulk_modulus", "--kind", "composition", "--out", str(model),
                              "--max-train", "400", "--members", "2", "--seed", "1"])
    assert res.exit_code == 0, res.output + repr(res.exception)
    assert "test: n=" in res.output
    assert (model / "MODEL_CARD.md").read_text().count("| test |") == 1
    inp = tmp_path / "in.csv"
    pd.DataFrame({"formula": ["NaCl", "MgO", "NaN", "Fe2O3"]}).to_csv(inp, index=False)
    out = tmp_path / "out.csv"
    res = runner.invoke(app, ["predict", "--model", str(model), str(inp), "--out", str(out)])
    assert res.exit_code == 0, res.output + repr(res.exception)
    frame = pd.read_csv(out, keep_default_na=False)
    assert list(frame["formula"]) == ["NaCl", "MgO", "NaN", "Fe2O3"]
    assert (frame["std"].astype(float) > 0).all() and frame["mean"].astype(float).notna().all()


def test_user_errors(tmp_path, use_fixture_data):
    runner = CliRunner()
    res = runner.invoke(app, ["predict", "--model", str(tmp_path / "nope"), "x.csv",
                              "--out", str(tmp_path / "o.csv")])
    assert isinstance(res.exception, MatforgeError)
    res = runner.invoke(app, ["train", "surrogate", "--data", "mp-bulk-modulus", "--target",
                              "no_such_column", "--out", str(tmp_path / "m")])
    assert isinstance(res.exception, MatforgeError) and "no_such_column" in str(res.exception)
    res = runner.invoke(app, ["train", "surrogate", "--data", "mp-bulk-modulus", "--target",
                              "bulk_modulus", "--kind", "structure", "--out",
                              str(tmp_path / "m")])
    assert isinstance(res.exception, MatforgeError)


def test_train_blend(tmp_path, use_fixture_data):
    runner = CliRunner()
    model = tmp_path / "blend"
    res = runner.invoke(app, ["train", "surrogate", "--data", "mp-bulk-modulus", "--target",
                              "bulk_modulus", "--model", "blend", "--out", str(model),
                              "--max-train", "300", "--members", "2", "--max-minutes", "0.05"])
    assert res.exit_code == 0, res.output + repr(res.exception)
    assert "test: n=" in res.output
    cfg = read_config(model)
    assert cfg["kind"] == "blend" and 0.0 <= cfg["weight"] <= 1.0
    assert cfg["params"]["ensemble"] == {"n_members": 2}
    assert read_config(model / "attention")["kind"] == "attention"
    inp, out = tmp_path / "in.csv", tmp_path / "out.csv"
    pd.DataFrame({"formula": ["NaCl", "MgO"]}).to_csv(inp, index=False)
    res = runner.invoke(app, ["predict", "--model", str(model), str(inp), "--out", str(out)])
    assert res.exit_code == 0, res.output + repr(res.exception)
    assert (pd.read_csv(out)["std"] > 0).all()
