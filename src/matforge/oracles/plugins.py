"""Oracle plug-ins and the one factory that turns an oracle spec into an Oracle.

A plug-in is any importable callable or Oracle subclass, named `module:attr`, or registered by
a package under the entry-point group `matforge.oracles`. A plain function
`f(candidate) -> dict[str, float]` is wrapped so exceptions become failed Results.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

from matforge.candidate import Candidate
from matforge.errors import MatforgeError
from matforge.oracles.base import Oracle, PerCandidateOracle

ENTRY_POINT_GROUP = "matforge.oracles"


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
    """`module:attr` or an entry-point name; classes are built with `options`."""
    obj = None
    if ":" in target:
        module, _, attr = target.partition(":")
        try:
            obj = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as exc:
            raise MatforgeError(f"oracle plug-in {target}: {exc}") from None
    else:
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            if ep.name == target:
                obj = ep.load()
                break
        if obj is None:
            raise MatforgeError(f"no oracle plug-in named {target!r} (use module:attr or an "
                                f"entry point in group {ENTRY_POINT_GROUP})")
    if inspect.isclass(obj) and issubclass(obj, Oracle):
        return obj(**options)
    if isinstance(obj, Oracle):
        return obj
    if callable(obj):
        return FunctionOracle(obj, name=target)
    raise MatforgeError(f"oracle plug-in {target} is not an Oracle or a callable")


def build_oracle(kind: str, target: str | None = None, args: list[str] | None = None,
                 timeout: float = 600.0, columns: list[str] | None = None,
                 stages: list[Any] | None = None, **options: Any) -> Oracle:
    """The Oracle named by a campaign's oracle spec (`stages`: OracleSpecs of a chain)."""
    if kind == "chain":
        from matforge.oracles.chain import ChainOracle

        if not stages:
            raise MatforgeError("a chain oracle needs stages")
        return ChainOracle([build_oracle(st.kind, st.target, st.args, st.timeout,
                                         stages=st.stages, **st.options) for st in stages])
    if kind == "surrogate":
        from matforge.oracles.chain import SurrogateOracle

        if not target:
            raise MatforgeError("the surrogate oracle needs a model directory (surrogate:DIR)")
        return SurrogateOracle(target)
    if kind == "synthesizability":
        from matforge.oracles.synthesizability import SynthesizabilityOracle

        return SynthesizabilityOracle(target)
    if kind == "lookup":
        from matforge.oracles.lookup import LookupOracle

        if not target:
            raise MatforgeError("the lookup oracle needs a table (lookup:FILE.csv)")
        return LookupOracle(target, columns=options.pop("columns", columns), **options)
    if kind == "command":
        from matforge.oracles.command import CommandOracle

        if not target:
            raise MatforgeError("the command oracle needs a program (command:PROG)")
        return CommandOracle(target, args=args, timeout=timeout, **options)
    if kind == "plugin":
        if not target:
            raise MatforgeError("the plugin oracle needs module:attr")
        return load_plugin(target, **options)
    if kind in ("chgnet", "sevennet"):
        from matforge.oracles.stability import StabilityOracle

        options.setdefault("progress", False)  # the campaign shows its own progress bar
        try:
            return StabilityOracle(model=kind, **options)
        except TypeError as exc:  # an option the oracle does not take
            raise MatforgeError(f"the {kind} oracle: {exc}") from None
    raise MatforgeError(f"unknown oracle kind {kind!r}")
