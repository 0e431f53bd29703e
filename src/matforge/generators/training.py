"""The training loop the torch generators share: a time budget, a learning-rate schedule,
shuffled mini-batches with a progress bar, and one optimiser step.

Training honours `max_minutes` (the design's rule for long work), so a schedule runs on the
fraction of training done by steps *or* by time, whichever is further along: a run cut short
by the clock still ends with a small learning rate.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Sequence

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm


class Timer:
    """Stops a training loop after max_minutes (None: no limit)."""

    def __init__(self, max_minutes: float | None):
        self.start = time.perf_counter()
        self.limit = None if max_minutes is None else 60.0 * max_minutes

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def done(self) -> bool:
        return self.limit is not None and self.elapsed >= self.limit

    def progress(self, step: int, total_steps: int) -> float:
        """Fraction of training done: by steps, or by time when the time limit comes first."""
        by_time = 0.0 if self.limit is None else self.elapsed / self.limit
        return min(1.0, max(step / max(total_steps, 1), by_time))


def lr_at(progress: float, max_lr: float, warmup: float = 0.03) -> float:
    """Linear warm-up then cosine decay to 2% over the run (time-aware via `Timer.progress`),
    so a run cut short by --max-minutes still ends with a small learning rate."""
    if progress < warmup:
        return max_lr * max(progress / warmup, 0.02)
    x = (progress - warmup) / (1 - warmup)
    return max_lr * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * x)))


def optimiser_step(opt: torch.optim.Optimizer, loss: torch.Tensor,
                   clip_norm: float | None = None) -> None:
    """Back-propagate `loss` and step `opt`, clipping the gradient norm of its parameters."""
    opt.zero_grad()
    loss.backward()
    if clip_norm is not None:
        params = [p for group in opt.param_groups for p in group["params"]]
        nn.utils.clip_grad_norm_(params, clip_norm)
    opt.step()


class TrainingLoop:
    """Epochs of shuffled mini-batches within a step and time budget.

    Iterating yields one batch of row indices (a tensor) at a time; the caller runs its
    training step on it. After each batch the loop counts the step, sets the learning rate
    of every scheduled optimiser (`lr_at`), and moves the progress bar, showing `postfix`.
    It stops after `epochs`, or once `max_minutes` have passed (finishing the running batch
    and the epoch's `on_epoch_end`). Incomplete last batches are dropped.

    Args:
        desc: progress bar label.
        rows: the number of training rows, or the row indices to draw from.
        batch_size: rows per yielded batch.
        epochs: passes over the rows.
        max_minutes: time budget (None: none).
        rng: shuffles the rows at the start of each epoch.
        module: put in train mode at the start of each epoch (a validation pass may have set
            eval mode) and in eval mode at the end.
        schedules: (optimiser, peak learning rate) pairs that follow `lr_at`.
        on_epoch_end: called after each epoch (validation, for instance).
    """

    def __init__(self, desc: str, rows: int | np.ndarray, batch_size: int, epochs: int,
                 max_minutes: float | None, rng: np.random.Generator, module: nn.Module,
                 schedules: Sequence[tuple[torch.optim.Optimizer, float]] = (),
                 on_epoch_end: Callable[[], None] | None = None):
        self.desc, self.rows, self.batch_size, self.epochs = desc, rows, batch_size, epochs
        self.rng, self.module, self.schedules = rng, module, schedules
        self.on_epoch_end = on_epoch_end
        n_rows = rows if isinstance(rows, int) else len(rows)
        self.total_steps = epochs * max(1, n_rows // batch_size)
        self.timer = Timer(max_minutes)
        self.step = 0
        self.epoch = 0
        self.postfix: dict[str, str] = {}

    def progress(self) -> float:
        """Fraction of training done so far (by steps or by time)."""
        return self.timer.progress(self.step, self.total_steps)

    def __iter__(self) -> Iterator[torch.Tensor]:
        bar = tqdm(total=self.total_steps, desc=self.desc, mininterval=2)
        for epoch in range(1, self.epochs + 1):
            self.epoch = epoch
            self.module.train()
            perm = torch.as_tensor(self.rng.permutation(self.rows))
            for start in range(0, len(perm) - self.batch_size + 1, self.batch_size):
                yield perm[start:start + self.batch_size]
                self._after_step(bar)
                if self.timer.done():
                    break
            if self.on_epoch_end is not None:
                self.on_epoch_end()
            if self.timer.done():
                break
        bar.close()
        self.module.eval()

    def _after_step(self, bar: tqdm) -> None:
        self.step += 1
        if self.schedules:
            progress = self.progress()
            for opt, peak in self.schedules:
                for group in opt.param_groups:
                    group["lr"] = lr_at(progress, peak)
        bar.update(1)
        if self.postfix:
            bar.set_postfix(self.postfix, refresh=False)
