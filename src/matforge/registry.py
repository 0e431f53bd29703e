"""One registry for every kind of plug-in: generators, structure predictors, surrogates,
design strategies and oracles.

A plug-in is a `Plugin`: its kind, its name, a lazy `"module:attr"` target (nothing is
imported until the plug-in is used, so listing plug-ins stays cheap), a pydantic options
model with `extra="forbid"`, and the capabilities it declares as data, so callers ask
`plugin.supports("temperature")` instead of probing signatures.

Third parties register through entry points, one group per kind (`ENTRY_POINT_GROUPS`,
e.g. `matforge.oracles`); they are read the first time a kind is looked up. Unknown names and
misspelt options end in one line that names them and the nearest valid one.

    register("csp", "random", "matforge.generators.crystal.random_symmetric:RandomSymmetricCSP",
             capabilities={"structures"})
    get("strategy", "bayesopt").validate({"beta": 2.0})
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from matforge.errors import MatforgeError, did_you_mean

# kind -> entry-point group a third-party package registers its plug-ins under
ENTRY_POINT_GROUPS: dict[str, str] = {
    "generator": "matforge.generators",
    "csp": "matforge.structure_predictors",
    "surrogate": "matforge.surrogates",
    "strategy": "matforge.strategies",
    "oracle": "matforge.oracles",
}

# The capability vocabulary: a misspelt capability in a `register` call fails at import,
# instead of silently never matching.
CAPABILITIES: dict[str, str] = {
    "conditional": "samples towards property targets (`condition=`)",
    "structures": "proposes or takes crystal structures, not only compositions",
    "predicts_structures": "`propose(composition, k, seed)`: structures for a composition",
    "batched": "does a whole batch at once (`propose_many`; oracles: one call per step)",
    "temperature": "sampling takes a temperature",
    "guidance": "conditional sampling takes a classifier-free guidance weight",
    "reject_invalid": "`sample(..., reject_invalid=True)` resamples to valid compositions",
    "novel_only": "`sample(..., novel_only=True)` resamples to unknown compositions",
    "latent": "`encode(formulas)`: a latent space to optimise in",
    "log_likelihood": "`log_likelihood(formulas)`: a policy that can be steered",
    "fill": "`fill_ranked(formula, ...)`: completes a formula with blanks",
    "explain": "per-feature attributions of its predictions",
    "multi_objective": "handles several objectives at once",
}


class NoOptions(BaseModel):
    """The options model of a plug-in that takes none: any option given is an error."""

    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class Plugin:
    """One registered plug-in. `target` and `options` are "module:attr" strings, imported
    on first use, or the objects themselves (a class defined in a script or notebook)."""

    kind: str
    name: str
    target: str | Any
    options: str | type[BaseModel] | None = None
    capabilities: frozenset[str] = frozenset()
    aliases: tuple[str, ...] = ()
    source: str = "matforge"  # or "entry point <group>" for a third-party plug-in

    def supports(self, capability: str) -> bool:
        return capability in self.capabilities

    def load(self) -> Any:
        """The target object (class or factory), imported now."""
        if not isinstance(self.target, str):
            return self.target
        return _import(self.target, f"{self.kind} {self.name!r}")

    def options_model(self) -> type[BaseModel]:
        if self.options is None:
            return NoOptions
        if isinstance(self.options, str):
            return _import(self.options, f"{self.kind} {self.name!r} options")
        return self.options

    def validate(self, options: Mapping[str, Any] | None) -> BaseModel:
        """The options as the plug-in's model; one line naming a bad or misspelt key."""
        model = self.options_model()
        try:
            return model.model_validate(dict(options or {}))
        except ValidationError as exc:
            raise MatforgeError(self._explain(exc, model)) from None

    def _explain(self, exc: ValidationError, model: type[BaseModel]) -> str:
        first = exc.errors()[0]
        key = ".".join(str(part) for part in first.get("loc", ())) or "options"
        where = f"{self.kind} {self.name}"
        if first.get("type") == "extra_forbidden":
            if not model.model_fields:
                return f"{where}: takes no options, got {key!r}"
            hint = did_you_mean(key, model.model_fields) or \
                f" (valid: {', '.join(model.model_fields)})"
            return f"{where}: unknown option {key!r}{hint}"
        if first.get("type") == "missing":
            about = getattr(model.model_fields.get(key), "description", None)
            return f"{where}: needs {key!r}" + (f" ({about})" if about else "")
        return f"{where}: option {key!r}: {first.get('msg')}"


# kind -> name -> Plugin; aliases map to canonical names per kind
_PLUGINS: dict[str, dict[str, Plugin]] = {kind: {} for kind in ENTRY_POINT_GROUPS}
_ALIASES: dict[str, dict[str, str]] = {kind: {} for kind in ENTRY_POINT_GROUPS}
_ENTRY_POINTS_READ: set[str] = set()


def register(kind: str, name: str, target: str | Any, *,
             options: str | type[BaseModel] | None = None,
             capabilities: Iterable[str] = (), aliases: Iterable[str] = (),
             source: str = "matforge") -> Plugin:
    """Add (or replace) a plug-in; returns it. Capabilities must come from `CAPABILITIES`."""
    _check_kind(kind)
    caps = frozenset(capabilities)
    unknown = sorted(caps - CAPABILITIES.keys())
    if unknown:
        raise MatforgeError(f"{kind} {name}: unknown capability {unknown[0]!r}"
                            f"{did_you_mean(unknown[0], CAPABILITIES)}")
    plugin = Plugin(kind, name, target, options, caps, tuple(aliases), source)
    _PLUGINS[kind][name] = plugin
    for alias in plugin.aliases:
        _ALIASES[kind][alias] = name
    return plugin


def get(kind: str, name: str) -> Plugin:
    """The plug-in registered as `name` (or an alias); one did-you-mean line if none is."""
    registered = _plugins_of(kind)
    name = _ALIASES[kind].get(name, name)
    if name not in registered:
        known = [*registered, *_ALIASES[kind]]
        hint = did_you_mean(name, known) or f" (known: {', '.join(sorted(registered))})"
        raise MatforgeError(f"unknown {kind} {name!r}{hint}")
    return registered[name]


def find(kind: str, name: str) -> Plugin | None:
    """Like `get`, but None for an unknown name (for callers that fall back to a path)."""
    return _plugins_of(kind).get(_ALIASES[kind].get(name, name))


def names(kind: str) -> list[str]:
    """Registered names of a kind, in registration order (built-ins first)."""
    return list(_plugins_of(kind))


def plugins(kind: str) -> list[Plugin]:
    return list(_plugins_of(kind).values())


def _plugins_of(kind: str) -> dict[str, Plugin]:
    _check_kind(kind)
    if kind not in _ENTRY_POINTS_READ:
        _ENTRY_POINTS_READ.add(kind)
        _register_entry_points(kind)
    return _PLUGINS[kind]


def _register_entry_points(kind: str) -> None:
    """Third-party plug-ins: each entry point names a target; a built-in name is not
    replaced (a package cannot silently take over `bayesopt`)."""
    group = ENTRY_POINT_GROUPS[kind]
    for ep in entry_points(group=group):
        if ep.name not in _PLUGINS[kind]:
            register(kind, ep.name, ep.value, source=f"entry point {group}")


def _check_kind(kind: str) -> None:
    if kind not in ENTRY_POINT_GROUPS:
        raise MatforgeError(f"unknown plug-in kind {kind!r}"
                            f"{did_you_mean(kind, ENTRY_POINT_GROUPS)}")


def _import(target: str, what: str) -> Any:
    module, _, attr = target.partition(":")
    try:
        obj: Any = importlib.import_module(module)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        raise MatforgeError(f"{what} ({target}) is not available: {exc}") from None
    return obj


# -- the built-in plug-ins -------------------------------------------------------------------
# Generators: the `kind` written in a model directory's config.json.
_COMPOSITION = "matforge.generators.composition"
_TORCH_SAMPLING = {"conditional", "temperature", "reject_invalid"}
register("generator", "composition-substitution",
         f"{_COMPOSITION}.substitution:SubstitutionGenerator", capabilities={"conditional"})
register("generator", "composition-transformer", f"{_COMPOSITION}.transformer:TransformerGenerator",
         capabilities=_TORCH_SAMPLING | {"novel_only", "log_likelihood", "guidance"})
register("generator", "composition-vae", f"{_COMPOSITION}.vae:VAEGenerator",
         capabilities=_TORCH_SAMPLING | {"latent"})
register("generator", "composition-gan", f"{_COMPOSITION}.gan:GANGenerator",
         capabilities=_TORCH_SAMPLING)
register("generator", "composition-blank", f"{_COMPOSITION}.blank:BlankFillingGenerator",
         capabilities=_TORCH_SAMPLING | {"fill"})
_CSP = {"structures", "predicts_structures"}
register("generator", "crystal-template", "matforge.generators.crystal.template:TemplateCSP",
         capabilities=_CSP)
register("generator", "crystal-random",
         "matforge.generators.crystal.random_symmetric:RandomSymmetricCSP", capabilities=_CSP)
register("generator", "crystal-diffusion",
         "matforge.generators.crystal.diffusion.generator:CrystalDiffusion",
         capabilities=_CSP | {"conditional", "batched"})

# Structure predictors that need no model directory (`matforge csp --model NAME`); a model
# directory or shipped model name of a generator with `predicts_structures` works as well.
register("csp", "random", "matforge.generators.crystal.random_symmetric:RandomSymmetricCSP",
         capabilities=_CSP)
register("csp", "auto", "matforge.generators.crystal.search:StructureSearch",
         options="matforge.generators.crystal.search:SearchOptions",
         capabilities=_CSP | {"batched"})
register("generator", "crystal-auto", "matforge.generators.crystal.search:StructureSearch",
         options="matforge.generators.crystal.search:SearchOptions",
         capabilities=_CSP | {"batched"})

# Surrogates: the `kind` in a saved surrogate's config.json.
register("surrogate", "ensemble", "matforge.surrogates.ensemble:EnsembleSurrogate",
         capabilities={"explain"})
register("surrogate", "attention", "matforge.surrogates.attention:AttentionSurrogate")
register("surrogate", "blend", "matforge.surrogates.blend:BlendSurrogate")
register("surrogate", "structure", "matforge.surrogates.structure:StructureSurrogate",
         capabilities={"structures", "explain"})

# Design strategies: `Strategy` subclasses built with their validated options model. Screen
# ranks one objective; every other strategy handles several.
_STRATEGIES = "matforge.design.strategies"
_MULTI = {"multi_objective"}
register("strategy", "random", f"{_STRATEGIES}.random_search:RandomSearch",
         options=f"{_STRATEGIES}.base:StrategyOptions", capabilities=_MULTI)
register("strategy", "generate_rank", f"{_STRATEGIES}.generate_rank:GenerateRank",
         options=f"{_STRATEGIES}.generate_rank:GenerateRankOptions", capabilities=_MULTI,
         aliases=("generate-rank",))
register("strategy", "screen", f"{_STRATEGIES}.screen:Screen",
         options=f"{_STRATEGIES}.screen:ScreenOptions")
register("strategy", "bayesopt", f"{_STRATEGIES}.bayesopt:BayesOpt",
         options=f"{_STRATEGIES}.bayesopt:BayesOptOptions", capabilities=_MULTI,
         aliases=("bo",))
register("strategy", "genetic", f"{_STRATEGIES}.genetic:Genetic",
         options=f"{_STRATEGIES}.genetic:GeneticOptions", capabilities=_MULTI, aliases=("ga",))
register("strategy", "latent", f"{_STRATEGIES}.latent:LatentOpt",
         options=f"{_STRATEGIES}.latent:LatentOptions", capabilities=_MULTI)
register("strategy", "steering", f"{_STRATEGIES}.steering:Steering",
         options=f"{_STRATEGIES}.steering:SteeringOptions", capabilities=_MULTI)
register("strategy", "gflownet", f"{_STRATEGIES}.gflownet:GFlowNet",
         options=f"{_STRATEGIES}.gflownet:GFlowNetOptions", capabilities=_MULTI)

# Oracles: factories called with the validated options (`matforge.oracles.plugins`).
_ORACLES = "matforge.oracles.plugins"
register("oracle", "lookup", f"{_ORACLES}:lookup_oracle", options=f"{_ORACLES}:LookupOptions")
register("oracle", "command", f"{_ORACLES}:command_oracle",
         options=f"{_ORACLES}:CommandOptions")
register("oracle", "plugin", f"{_ORACLES}:plugin_oracle", options=f"{_ORACLES}:PluginOptions")
register("oracle", "surrogate", f"{_ORACLES}:surrogate_oracle",
         options=f"{_ORACLES}:ModelDirOptions")
register("oracle", "synthesizability", f"{_ORACLES}:synthesizability_oracle",
         options=f"{_ORACLES}:OptionalModelDirOptions")
register("oracle", "chain", f"{_ORACLES}:chain_oracle", options=f"{_ORACLES}:ChainOptions")
register("oracle", "chgnet", f"{_ORACLES}:chgnet_oracle", options=f"{_ORACLES}:StabilityOptions",
         capabilities={"structures", "batched"})
register("oracle", "sevennet", f"{_ORACLES}:sevennet_oracle",
         options=f"{_ORACLES}:StabilityOptions", capabilities={"structures", "batched"})
