"""Oracle factories and plug-ins: what `matforge.registry` builds an oracle spec with.

Every oracle kind is registered in `matforge.registry` with a factory here and its options
model (`extra="forbid"`: a misspelt option is one did-you-mean line). `build_oracle` is the
one way an oracle spec becomes an Oracle.

A plug-in is any importable callable or Oracle subclass, named `module:attr`, or registered by
a package under the entry-point group `matforge.oracles`. A plain function
`f(candidate) -> dict[str, float]` is wrapped so exceptions become failed Results.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from matforge import registry
from matforge.candidate import Candidate
from matforge.errors import MatforgeError
from matforge.oracles.base import Oracle, PerCandidateOracle

STRICT = ConfigDict(extra="forbid")


class FunctionOracle(PerCandidateOracle):
    """Wraps `f(candidate) -> dict of values` as an oracle."""

    def __init__(self, func: Callable[[Candidate], dict[str, float]], name: str = "plugin"):
        self.func = func
        self.name = name

    def evaluate_one(self, candidate: Candidate) -> dict[str, float]:
        values = self.func(candidate)
        if not isinstance(values, dict):
            raise TypeError(f"plug-in returned {type(values).__name__}, not a dict of values")
        return {str(k): float(v) for k, v in values.items()}


def load_plugin(target: str, **options: Any) -> Oracle:
    """`module:attr` or the name of an entry point in group `matforge.oracles`: an Oracle
    class is built with `options`, an Oracle instance used as is, a function wrapped."""
    plugin = registry.Plugin("oracle", target, target) if ":" in target \
        else registry.get("oracle", target)
    obj = plugin.load()
    if inspect.isclass(obj) and issubclass(obj, Oracle):
        try:
            return obj(**options)
        except TypeError as exc:  # an option the plug-in does not take
            raise MatforgeError(f"oracle plug-in {target}: {exc}") from None
    if isinstance(obj, Oracle):
        return obj
    if callable(obj):
        return FunctionOracle(obj, name=target)
    raise MatforgeError(f"oracle plug-in {target} is not an Oracle or a callable")


def build_oracle(kind: str, target: str | None = None, args: list[str] | None = None,
                 timeout: float = 600.0, stages: list[Any] | None = None,
                 **options: Any) -> Oracle:
    """The Oracle named by a campaign's oracle spec (`stages`: OracleSpecs of a chain)."""
    plugin, opts = check_oracle(kind, target, args, timeout, stages, **options)
    oracle = plugin.load()(**dict(opts))
    if not isinstance(oracle, Oracle):
        raise MatforgeError(f"oracle {kind}: its factory returned {type(oracle).__name__}, "
                            "not an Oracle")
    return oracle


def check_oracle(kind: str, target: str | None = None, args: list[str] | None = None,
                 timeout: float = 600.0, stages: list[Any] | None = None,
                 **options: Any) -> tuple[registry.Plugin, BaseModel]:
    """The registered oracle kind and its validated options (one-line errors), without
    building it: a spec is checked when it is loaded, before a run folder is made.

    The spec's target, args, timeout and stages count as options where the kind's options
    model declares them (a lookup table is its `target`), and are ignored elsewhere."""
    plugin = registry.get("oracle", kind)
    declared = plugin.options_model().model_fields
    spec = {"target": target, "args": list(args or []), "timeout": timeout,
            "stages": list(stages or [])}
    given = {k: v for k, v in spec.items() if k in declared and v not in (None, [])}
    return plugin, plugin.validate({**given, **options})


# -- options models and factories of the built-in kinds ---------------------------------------
class LookupOptions(BaseModel):
    model_config = STRICT

    target: str = Field(..., description="a table: lookup:FILE.csv or a data set name")
    columns: list[str] | None = None  # None: every numeric column
    split: str = "all"
    delay: float = Field(0.0, ge=0)  # seconds per call (tests of interruption)
    rename: dict[str, str] | None = None


def lookup_oracle(target: str, **options: Any) -> Oracle:
    from matforge.oracles.lookup import LookupOracle

    return LookupOracle(target, **options)


class CommandOptions(BaseModel):
    model_config = STRICT

    target: str = Field(..., description="a program: command:PROG")
    args: list[str] = Field(default_factory=list)
    timeout: float = Field(600.0, gt=0)
    workdir: str | None = None
    keep: bool = False


def command_oracle(target: str, **options: Any) -> Oracle:
    from matforge.oracles.command import CommandOracle

    return CommandOracle(target, **options)


class PluginOptions(BaseModel):
    # The one open model: a plug-in's own options pass through to its constructor, which
    # checks them (a wrong one is a one-line error from `load_plugin`).
    model_config = ConfigDict(extra="allow")

    target: str = Field(..., description="plugin:module:attr or an entry-point name")


def plugin_oracle(target: str, **options: Any) -> Oracle:
    return load_plugin(target, **options)


class ModelDirOptions(BaseModel):
    model_config = STRICT

    target: str = Field(..., description="a model directory: surrogate:MODEL_DIR")


def surrogate_oracle(target: str) -> Oracle:
    from matforge.oracles.chain import SurrogateOracle

    return SurrogateOracle(target)


class OptionalModelDirOptions(BaseModel):
    model_config = STRICT

    target: str | None = None  # None: the shipped model


def synthesizability_oracle(target: str | None = None) -> Oracle:
    from matforge.oracles.synthesizability import SynthesizabilityOracle

    return SynthesizabilityOracle(target)


class ChainOptions(BaseModel):
    model_config = STRICT

    stages: list[Any] = Field(..., min_length=1, description="the stages' oracle specs")


def chain_oracle(stages: list[Any]) -> Oracle:
    from matforge.oracles.chain import ChainOracle

    return ChainOracle([build_oracle(st.kind, st.target, st.args, st.timeout,
                                     stages=st.stages, **st.options) for st in stages])


class StabilityOptions(BaseModel):
    model_config = STRICT

    hull: str | None = None  # auto, mp, or a file / data set of phases (None: the default)
    fmax: float = Field(0.1, gt=0)
    steps: int = Field(300, ge=0)
    csp: Literal["search", "none"] = "search"
    update_structures: bool = True
    progress: bool = False  # the campaign shows its own progress bar


def chgnet_oracle(**options: Any) -> Oracle:
    from matforge.oracles.stability import StabilityOracle

    return StabilityOracle(model="chgnet", **options)


def sevennet_oracle(**options: Any) -> Oracle:
    from matforge.oracles.stability import StabilityOracle

    return StabilityOracle(model="sevennet", **options)
