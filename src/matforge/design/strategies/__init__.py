"""Design strategies, each a small class behind `Strategy.propose(context) -> Selection`."""

from __future__ import annotations

import importlib

from matforge.design.strategies.base import Context, Selection, Strategy
from matforge.errors import MatforgeError

STRATEGIES: dict[str, str] = {
    "random": "matforge.design.strategies.random_search:RandomSearch",
    "generate_rank": "matforge.design.strategies.generate_rank:GenerateRank",
    "screen": "matforge.design.strategies.screen:Screen",
    "bayesopt": "matforge.design.strategies.bayesopt:BayesOpt",
    "genetic": "matforge.design.strategies.genetic:Genetic",
    "latent": "matforge.design.strategies.latent:LatentOpt",
    "steering": "matforge.design.strategies.steering:Steering",
    "gflownet": "matforge.design.strategies.gflownet:GFlowNet",
}
# Strategies named in an issue and not written yet; asking for them says so, not "unknown".
PLANNED: tuple[str, ...] = ()
ALIASES = {"generate-rank": "generate_rank", "bo": "bayesopt", "ga": "genetic"}


def make_strategy(name: str, **options: object) -> Strategy:
    key = ALIASES.get(name, name).replace("-", "_")
    if key in PLANNED:
        raise MatforgeError(f"strategy {key} is not implemented yet in this version")
    if key not in STRATEGIES:
        raise MatforgeError(f"unknown strategy {name!r} (use {', '.join(STRATEGIES)})")
    module, _, cls = STRATEGIES[key].partition(":")
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        raise MatforgeError(f"strategy {key} is not available: {exc}") from None
    return getattr(mod, cls)(**options)


__all__ = ["STRATEGIES", "Context", "Selection", "Strategy", "make_strategy"]
