"""Design strategies, each a small class behind `Strategy.propose(context) -> Selection`.

Strategies are registered in `matforge.registry` (kind "strategy") with their options model.
"""

from __future__ import annotations

from typing import Any

from matforge import registry
from matforge.design.strategies.base import Context, Selection, Strategy, StrategyOptions


def make_strategy(name: str, **options: Any) -> Strategy:
    """The registered strategy `name` (or an alias: bo, ga, generate-rank), built with its
    options validated by its options model: a misspelt option is a one-line error."""
    plugin = registry.get("strategy", name)
    return plugin.load()(plugin.validate(options))


__all__ = ["Context", "Selection", "Strategy", "StrategyOptions", "make_strategy"]
