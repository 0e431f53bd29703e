"""Pool campaigns on a lookup oracle: contract outputs, determinism, strategies, the CLI.
The pool is 150 mp-transport compositions with their log10 power factor (tests/design/conftest)."""

import pandas as pd
import pytest

from matforge.design.campaign import run_campaign
from matforge.design.spec import load_spec
from matforge.design.store import CampaignStore
from matforge.errors import MatforgeError

PROP = "log10_PF_p"


def _spec(pool, table, strategy, **kw):
    base = {"objectives": [f"{PROP}:max"], "oracle": f"lookup:{table}",
            "pool": str(pool), "strategy": strategy, "budget": 30, "batch_size": 10, "seed": 3}
    base.update(kw)
    return load_spec(None, **base)


@pytest.mark.parametrize("strategy", ["random", "genetic", "generate_rank"])
def test_campaign_writes_contract_outputs(tmp_path, pool_tables, strategy):
    pool, table = pool_tables
    summary = run_campaign(_spec(pool, table, strategy), tmp_path / "run", progress=False)
    frame = pd.read_csv(tmp_path / "run" / "evaluations.csv")
    assert list(frame.columns[:5]) == ["step", "formula", PROP, "strategy", "status"]
    assert len(frame) == 30 and frame["formula"].is_unique
    assert (frame["status"] == "ok").all()  # every pool formula is in the lookup table
    assert frame["step"].is_monotonic_increasing
    truth = pd.read_csv(table).set_index("formula")[PROP]
    assert frame.set_index("formula")[PROP].equals(
        truth.loc[frame["formula"]].rename(PROP).rename_axis("formula"))
    assert (tmp_path / "run" / "report.html").read_text().startswith("<!DOCTYPE html>")
    assert summary["evaluations"] == 30
    with CampaignStore(tmp_path / "run" / "campaign.sqlite") as store:
        assert [s["status"] for s in store.steps()] == ["done"] * 3
        assert store.verdict_counts()["passed"] == 150
        if strategy == "generate_rank":  # predictions with uncertainty are stored
            chosen = [p for p in store.proposals(step=2) if p["selected"]]
            assert all(p["std"] is not None and p["acquisition"] is not None for p in chosen)


def test_same_seed_same_campaign_and_constraints(tmp_path, pool_tables):
    pool, table = pool_tables
    spec = _spec(pool, table, "genetic", budget=20)
    spec.constraints.forbidden_elements = ["O"]
    a = run_campaign(spec, tmp_path / "a", progress=False)
    b = run_campaign(spec, tmp_path / "b", progress=False)
    fa = pd.read_csv(a["evaluations_csv"])
    fb = pd.read_csv(b["evaluations_csv"])
    assert fa[["step", "formula"]].equals(fb[["step", "formula"]])
    assert not any("O" in __import__("pymatgen.core").core.Composition(f).as_dict()
                   for f in fa["formula"])
    with pytest.raises(MatforgeError):  # an existing run folder needs --resume
        run_campaign(spec, tmp_path / "a", progress=False)


def test_bayesopt_gp_and_ensemble_two_objectives(tmp_path, pool_tables):
    pool, table = pool_tables
    spec = _spec(pool, table, "bayesopt", budget=20, batch_size=5)
    s1 = run_campaign(spec, tmp_path / "gp", progress=False)
    assert s1["evaluations"] == 20
    spec2 = _spec(pool, table, "bayesopt", budget=20, batch_size=5,
                  objectives=[f"{PROP}:max", f"{PROP}:0.0..0.5"])
    spec2.strategy.options = {"model": "ensemble"}
    s2 = run_campaign(spec2, tmp_path / "ens", progress=False)
    assert s2["hypervolume"] >= 0 and s2["pareto_size"] >= 1
    assert "Pareto front" in (tmp_path / "ens" / "report.html").read_text()


def test_cli_campaign_and_errors(tmp_path, pool_tables):
    from typer.testing import CliRunner

    from matforge.cli import app

    pool, table = pool_tables
    runner = CliRunner()
    out = tmp_path / "cli"
    args = ["design", "--pool", str(pool), "--oracle", f"lookup:{table}", "--objective",
            f"{PROP}:0.5..1.0", "--strategy", "genetic", "--budget", "12",
            "--batch-size", "6", "--out", str(out), "--seed", "1"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert len(pd.read_csv(out / "evaluations.csv")) == 12
    result = runner.invoke(app, ["design", "--out", str(out), "--resume", "--budget", "18"])
    assert result.exit_code == 0, result.output
    bad = runner.invoke(app, ["design", "--pool", str(pool), "--oracle", "lookup:/nope.csv",
                              "--objective", "x:max", "--out", str(tmp_path / "bad")])
    assert bad.exit_code != 0 and isinstance(bad.exception, (MatforgeError, SystemExit))


def test_pretrained_features_join_the_strategy_surrogates(tmp_path, pool_tables):
    import numpy as np

    from matforge.design.campaign import FeatureCache
    from matforge.design.strategies._models import ensemble_samples

    formulas = ["NaCl", "Fe2O3", "GaAs", "MgO", "CuZn", "SiC"]
    plain, pre = FeatureCache("magpie")(formulas), FeatureCache("magpie", "auto")(formulas)
    assert pre.shape == (6, plain.shape[1] + 8) and np.array_equal(pre[:, :plain.shape[1]], plain)
    Y = np.array([[1.0], [2.0], [0.5], [1.5], [0.1], [1.2]])
    without = ensemble_samples(formulas, Y, ["KCl", "ZnO"], seed=0)
    with_pre = ensemble_samples(formulas, Y, ["KCl", "ZnO"], seed=0, pretrained="auto")
    assert with_pre.shape == without.shape == (64, 2, 1) and not np.allclose(with_pre, without)
    pool, table = pool_tables
    spec = _spec(pool, table, "bayesopt", budget=15, batch_size=5)
    spec.strategy.options = {"model": "ensemble", "pretrained": "auto"}
    assert run_campaign(spec, tmp_path / "pre", progress=False)["evaluations"] == 15
    spec.strategy.name, spec.strategy.options = "random", {"pretrained": "auto"}
    with pytest.raises(MatforgeError, match="fits no surrogate"):
        run_campaign(spec, tmp_path / "random", progress=False)
