"""Random search: the floor every strategy must beat (uniform picks from the candidates)."""

from __future__ import annotations

from matforge.design.strategies.base import (
    Context,
    Selection,
    Strategy,
    candidates_from,
    random_selection,
)


class RandomSearch(Strategy):
    name = "random"

    def propose(self, ctx: Context) -> Selection:
        cands, verdicts = candidates_from(ctx, max(ctx.generate_per_step, ctx.batch_size))
        return random_selection(ctx, cands, verdicts)
