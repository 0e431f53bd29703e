"""The training loop the torch generators share: batches, epochs, time budget, schedule."""

from __future__ import annotations

import numpy as np
import torch

from matforge.generators.training import TrainingLoop, lr_at


def _loop(**kwargs) -> tuple[TrainingLoop, torch.nn.Module, torch.optim.Optimizer, list[int]]:
    module = torch.nn.Linear(2, 1)
    opt = torch.optim.SGD(module.parameters(), lr=1.0)
    ends: list[int] = []
    args = {"rows": 10, "batch_size": 3, "epochs": 2, "max_minutes": None}
    args.update(kwargs)
    loop = TrainingLoop("test", args.pop("rows"), args.pop("batch_size"), args.pop("epochs"),
                        args.pop("max_minutes"), np.random.default_rng(0), module,
                        schedules=[(opt, 0.5)], on_epoch_end=lambda: ends.append(loop.epoch))
    return loop, module, opt, ends


def test_full_batches_of_shuffled_rows_for_every_epoch():
    loop, module, opt, ends = _loop()
    seen = []
    for idx in loop:
        assert module.training
        seen.append(idx.tolist())
    assert [len(b) for b in seen] == [3] * 6  # the incomplete last batch is dropped
    for epoch in (seen[:3], seen[3:]):  # no row twice within an epoch
        assert len({i for batch in epoch for i in batch}) == 9
    assert (loop.step, loop.epoch, ends) == (6, 2, [1, 2])
    assert not module.training  # eval mode once training ends
    assert opt.param_groups[0]["lr"] == lr_at(1.0, 0.5)


def test_row_indices_and_time_budget():
    loop, _, _, ends = _loop(rows=np.array([4, 5, 6, 7]), batch_size=2, epochs=5,
                              max_minutes=1e-9)
    batches = [idx.tolist() for idx in loop]
    # out of time after the first batch; the epoch still ends (validation runs)
    assert len(batches) == 1 and set(batches[0]) <= {4, 5, 6, 7}
    assert (loop.step, loop.epoch, ends) == (1, 1, [1])
