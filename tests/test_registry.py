"""The one plug-in registry: every built-in resolves, capabilities are data, unknown names and
misspelt options end in one did-you-mean line, and entry points register third parties."""

import subprocess
import sys
from importlib.metadata import EntryPoint

import pytest
from pydantic import BaseModel

from matforge import registry
from matforge.candidate import Candidate
from matforge.design.spec import spec_from_dict
from matforge.design.strategies import make_strategy
from matforge.errors import MatforgeError
from matforge.oracles.base import Oracle, Result
from matforge.oracles.plugins import build_oracle

ALL = [(kind, p.name) for kind in registry.ENTRY_POINT_GROUPS for p in registry.plugins(kind)]


@pytest.mark.parametrize(("kind", "name"), ALL)
def test_every_registered_plugin_imports_with_a_strict_options_model(kind, name):
    plugin = registry.get(kind, name)
    assert callable(plugin.load())
    model = plugin.options_model()
    assert issubclass(model, BaseModel)
    # the one open model: a `plugin:module:attr` oracle's own options pass through to it
    if (kind, name) != ("oracle", "plugin"):
        assert model.model_config.get("extra") == "forbid"
    assert plugin.capabilities <= set(registry.CAPABILITIES)


def test_every_kind_has_its_builtins():
    assert {"composition-transformer", "crystal-diffusion"} <= set(registry.names("generator"))
    assert "random" in registry.names("csp")
    assert set(registry.names("surrogate")) >= {"ensemble", "attention", "blend", "structure"}
    assert set(registry.names("strategy")) >= {"random", "bayesopt", "genetic", "screen"}
    assert set(registry.names("oracle")) >= {"lookup", "chgnet", "plugin", "chain"}


def test_capabilities_are_declared_not_probed():
    assert registry.get("generator", "composition-transformer").supports("temperature")
    assert registry.get("generator", "composition-transformer").supports("novel_only")
    assert not registry.get("generator", "composition-substitution").supports("temperature")
    assert registry.get("generator", "crystal-diffusion").supports("batched")
    assert registry.get("csp", "random").supports("predicts_structures")
    assert registry.get("surrogate", "structure").supports("structures")
    assert not registry.get("strategy", "screen").supports("multi_objective")
    assert registry.get("oracle", "chgnet").supports("batched")
    with pytest.raises(MatforgeError, match=r"unknown capability 'temprature' "
                                            r"\(did you mean 'temperature'\?\)"):
        registry.register("csp", "x", "m:X", capabilities={"temprature"})


def test_unknown_names_suggest_the_nearest():
    with pytest.raises(MatforgeError, match=r"unknown strategy 'bayseopt' "
                                            r"\(did you mean 'bayesopt'\?\)"):
        make_strategy("bayseopt")
    with pytest.raises(MatforgeError, match=r"unknown oracle 'lokup' \(did you mean 'lookup'\?\)"):
        build_oracle("lokup", "x.csv")
    with pytest.raises(MatforgeError, match=r"unknown generator 'composition-transfomer' "
                                            r"\(did you mean 'composition-transformer'\?\)"):
        registry.get("generator", "composition-transfomer")
    with pytest.raises(MatforgeError, match="did you mean 'csp'"):
        registry.names("cps")


def test_aliases_resolve():
    assert registry.get("strategy", "bo").name == "bayesopt"
    assert registry.get("strategy", "generate-rank").name == "generate_rank"
    assert make_strategy("ga", population=5).options.population == 5


def test_misspelt_strategy_option_names_the_key_and_the_nearest():
    with pytest.raises(MatforgeError, match=r"strategy bayesopt: unknown option 'mdoel' "
                                            r"\(did you mean 'model'\?\)"):
        make_strategy("bayesopt", mdoel="ensemble")
    with pytest.raises(MatforgeError, match="strategy genetic: unknown option 'budjet'"):
        spec_from_dict({"objectives": ["gap:max"],
                        "strategy": {"name": "genetic", "options": {"budjet": 3}}})
    with pytest.raises(MatforgeError, match="strategy screen: needs 'surrogate'"):
        make_strategy("screen")
    with pytest.raises(MatforgeError, match="strategy steering: option 'method'"):
        make_strategy("steering", method="rl")


def test_misspelt_oracle_option_fails_when_the_spec_is_loaded():
    with pytest.raises(MatforgeError, match=r"oracle chgnet: unknown option 'fmx' "
                                            r"\(did you mean 'fmax'\?\)"):
        spec_from_dict({"objectives": ["gap:max"],
                        "oracle": {"kind": "chgnet", "options": {"fmx": 0.05}}})
    with pytest.raises(MatforgeError, match="oracle lookup: needs 'target'"):
        spec_from_dict({"objectives": ["gap:max"], "oracle": {"kind": "lookup"}})
    spec = spec_from_dict({"objectives": ["gap:max"],
                           "oracle": {"kind": "chgnet", "options": {"fmax": 0.05}}})
    assert spec.oracle.options == {"fmax": 0.05} and spec.executor == "batch"


def test_misspelt_strategy_option_is_exit_code_2_on_the_command_line(tmp_path):
    pool = tmp_path / "pool.csv"
    pool.write_text("formula,gap\nNaCl,5\nKCl,6\n")
    proc = subprocess.run(
        [sys.executable, "-m", "matforge.cli", "design", "--pool", str(pool), "--objective",
         "gap:max", "--oracle", f"lookup:{pool}", "--strategy", "genetic", "--option",
         "populaton=3", "--out", str(tmp_path / "run")],
        capture_output=True, text=True, check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip() == ("error: strategy genetic: unknown option 'populaton' "
                                   "(did you mean 'population'?)")
    assert not (tmp_path / "run").exists()  # checked before a run folder is made


class _ConstantOracle(Oracle):
    name = "constant"

    def __init__(self, value: float = 1.0):
        self.value = value

    def evaluate(self, candidates):
        return [Result(c.formula, "ok", values={"v": self.value}) for c in candidates]


class _ConstantOptions(BaseModel):
    model_config = {"extra": "forbid"}

    value: float = 1.0


def _fake_entry_points(monkeypatch, group, name, value):
    def entry_points(group: str = ""):
        return [EntryPoint(name, value, group)] if group == want else []

    want = group
    monkeypatch.setattr(registry, "entry_points", entry_points)
    monkeypatch.setattr(registry, "_ENTRY_POINTS_READ", set())
    monkeypatch.setattr(registry, "_PLUGINS", {k: dict(v) for k, v in registry._PLUGINS.items()})


def test_an_entry_point_oracle_registers_and_builds(monkeypatch):
    _fake_entry_points(monkeypatch, "matforge.oracles", "constant",
                       f"{__name__}:_ConstantOracle")
    plugin = registry.get("oracle", "constant")
    assert plugin.source == "entry point matforge.oracles"
    oracle = build_oracle("constant")
    assert oracle.evaluate([Candidate("NaCl")])[0].values == {"v": 1.0}
    # the older way to name an entry-point oracle keeps working
    assert build_oracle("plugin", "constant").evaluate([Candidate("KCl")])[0].ok
    # an entry point cannot take over a built-in name
    _fake_entry_points(monkeypatch, "matforge.oracles", "lookup", f"{__name__}:_ConstantOracle")
    assert registry.get("oracle", "lookup").source == "matforge"


def test_an_entry_point_strategy_registers(monkeypatch):
    _fake_entry_points(monkeypatch, "matforge.strategies", "my_random",
                       "matforge.design.strategies.random_search:RandomSearch")
    assert "my_random" in registry.names("strategy")
    assert registry.get("strategy", "my_random").load().__name__ == "RandomSearch"


def test_register_declares_options_and_capabilities(monkeypatch):
    monkeypatch.setattr(registry, "_PLUGINS", {k: dict(v) for k, v in registry._PLUGINS.items()})
    registry.register("oracle", "constant", f"{__name__}:_ConstantOracle",
                      options=_ConstantOptions, capabilities={"batched"})
    assert build_oracle("constant", value=2.0).evaluate([Candidate("NaCl")])[0].values["v"] == 2
    with pytest.raises(MatforgeError, match=r"unknown option 'valeu' \(did you mean 'value'"):
        build_oracle("constant", valeu=2.0)
    assert registry.get("oracle", "constant").supports("batched")


def test_csp_models_resolve_through_the_registry():
    from matforge.commands.crystal import load_csp_model

    assert type(load_csp_model("random")).__name__ == "RandomSymmetricCSP"
    with pytest.raises(MatforgeError, match=r"unknown structure predictor 'randm' "
                                            r"\(did you mean 'random'\?\)"):
        load_csp_model("randm")
    with pytest.raises(MatforgeError, match="does not predict structures"):
        load_csp_model("composition-gan")


def test_plugins_docs_blocks_run(monkeypatch, capsys):
    from pathlib import Path

    from test_python_api_docs import python_blocks, run_blocks

    monkeypatch.setattr(registry, "_PLUGINS", {k: dict(v) for k, v in registry._PLUGINS.items()})
    page = Path(__file__).resolve().parent.parent / "docs" / "plugins.md"
    run_blocks(python_blocks(page.read_text()), "docs/plugins.md")
    printed = capsys.readouterr().out.splitlines()
    assert printed == ["{'n_elements': 8.0}", "True False",
                       "unknown strategy 'bayseopt' (did you mean 'bayesopt'?)",
                       "strategy bayesopt: unknown option 'mdoel' (did you mean 'model'?)",
                       "oracle element-count: unknown option 'wieght' (did you mean 'weight'?)"]
