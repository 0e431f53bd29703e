"""`TorchCompositionGenerator`: what the torch composition generators (transformer, VAE, GAN,
blank filling) have in common.

Devices, the start of every `fit` (threads, seeds, the training set and its property
scaling), seeded sampling in batches, the `sample()` front door with its opt-in validity
filter, and the model directory: `config.json` (condition, architecture, sampling options,
property stats, training log) beside `weights.pt`, loaded with `weights_only=True`.
A subclass builds its network in `__init__` and provides `fit` and `sample_formulas`.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd
import torch
from torch import nn

from matforge.candidate import Candidate
from matforge.generators.base import Condition, Generator, read_config, write_config
from matforge.generators.composition import common

WEIGHTS = "weights.pt"


class TorchCompositionGenerator(Generator):
    # the attribute holding the network that `save` writes and `load` restores
    network_attr: ClassVar[str] = "model"
    # constructor arguments stored at the top level of config.json (beside arch, sampling)
    config_fields: ClassVar[tuple[str, ...]] = ("min_elements",)
    # store floating-point weights as float16: half the size of a shipped model
    half_precision: ClassVar[bool] = False
    arch: dict[str, Any]  # network options, set by the subclass's constructor
    sampling: dict[str, Any]  # sampling defaults, idem

    def __init__(self, condition_on: Sequence[str], device: str | None):
        self.condition_on = list(condition_on)
        self.device = common.pick_device(device)
        self.stats: dict[str, list[float]] = {}
        self.info: dict[str, Any] = {}

    @property
    def network(self) -> nn.Module:
        return getattr(self, self.network_attr)

    # ---------------------------------------------------------------- training
    @staticmethod
    def _start_fit(seed: int) -> np.random.Generator:
        """Limit torch threads and seed torch; the returned generator shuffles the data."""
        common.set_threads()
        torch.manual_seed(seed)
        return np.random.default_rng(seed)

    def _training_set(self, dataset: pd.DataFrame, max_elements: int, max_count: int,
                      valid_only: bool, min_elements: int
                      ) -> tuple[common.TrainingSet, np.ndarray, np.ndarray]:
        """The training compositions, with `stats` fitted to their properties, and the
        properties scaled by them (values, known-mask)."""
        ts = common.prepare(dataset, self.condition_on, max_elements, max_count, valid_only,
                            min_elements)
        self.stats = common.property_stats(ts.props, self.condition_on) if self.condition_on \
            else {}
        values, mask = common.scale(ts.props, self.condition_on, self.stats)
        return ts, values, mask

    # ---------------------------------------------------------------- sampling
    @abstractmethod
    def sample_formulas(self, n: int, condition: Condition | None = None,
                        seed: int | None = None, **kwargs: Any) -> list[str]:
        """n formula strings ('' for a failed decode), reproducible for a given seed."""

    def sample(self, n: int, condition: Condition | None = None, seed: int | None = None,
               reject_invalid: bool = False, **kwargs: Any) -> list[Candidate]:
        """n candidates. With `reject_invalid`, resample until n pass the strict SMACT check."""
        if reject_invalid:
            return self._sample_valid(n, condition, seed, **kwargs)
        return self._sample_candidates(n, condition, seed, **kwargs)

    def _sample_candidates(self, n: int, condition: Condition | None, seed: int | None,
                           **kwargs: Any) -> list[Candidate]:
        """n unfiltered candidates; a subclass with scores or parents to report overrides it."""
        prov = common.sampling_provenance(n, condition)
        return common.to_candidates(self.sample_formulas(n, condition, seed, **kwargs),
                                    self.kind, seed, prov)

    def _sample_valid(self, n: int, condition: Condition | None, seed: int | None,
                      **kwargs: Any) -> list[Candidate]:
        """n candidates that pass the strict SMACT check: `sample_formulas`, resampled with
        derived seeds until n are kept."""
        prov = {**common.sampling_provenance(n, condition), "filtered": "smact-strict"}

        def draw(m: int, s: int | None) -> list[str]:
            return self.sample_formulas(m, condition, s, **kwargs)

        formulas = common.reject_invalid(draw(n, seed), n, draw, seed)
        return common.to_candidates(formulas, self.kind, seed, prov)

    def _torch_rng(self, seed: int | None, device: str | torch.device | None = None
                   ) -> torch.Generator:
        """The generator of one sampling call; no seed means seed 0, so every call repeats."""
        gen = torch.Generator(device=self.device if device is None else device)
        return gen.manual_seed(0 if seed is None else int(seed))

    @staticmethod
    def _batches(n: int, batch_size: int) -> Iterator[tuple[int, int]]:
        """(start, size) of the batches that sample n rows, batch_size at a time."""
        for start in range(0, n, batch_size):
            yield start, min(batch_size, n - start)

    def _condition_batch(self, cond: tuple[np.ndarray, np.ndarray] | None, rows: int
                         ) -> tuple[torch.Tensor, torch.Tensor]:
        """(rows, P) scaled target values and known-mask on the device, from
        `common.condition_arrays` (all unknown without a condition)."""
        p = len(self.condition_on)
        values = torch.zeros((rows, p), device=self.device)
        mask = torch.zeros((rows, p), dtype=torch.bool, device=self.device)
        if cond is not None:
            values[:] = torch.as_tensor(cond[0], device=self.device)
            mask[:] = torch.as_tensor(cond[1], device=self.device)
        return values, mask

    # ---------------------------------------------------------------- persistence
    def save(self, path: str | Path) -> Path:
        path = write_config(path, self.kind, condition_on=self.condition_on, arch=self.arch,
                            sampling=self.sampling,
                            **{name: getattr(self, name) for name in self.config_fields},
                            stats=self.stats, training=self.info)
        torch.save(self._weights(), Path(path) / WEIGHTS)
        return Path(path)

    @classmethod
    def load(cls, path: str | Path, device: str | None = None) -> Self:
        """Rebuild a generator saved by `save`; weights load with weights_only."""
        cfg = read_config(path)
        gen = cls(cfg["condition_on"], device=device,
                  **{name: cfg[name] for name in cls.config_fields},
                  **cfg["arch"], **cfg["sampling"])
        state = torch.load(Path(path) / WEIGHTS, map_location=gen.device, weights_only=True)
        gen._restore(state)
        gen.network.eval()
        gen.stats, gen.info = cfg.get("stats", {}), cfg.get("training", {})
        return gen

    def _weights(self) -> dict[str, Any]:
        """What weights.pt holds: the network's state dict (a subclass adds its own tensors).

        With `half_precision` the network's own floating-point tensors are rounded to
        float16 as well, so the saved and the in-memory model sample identically
        (`load_state_dict` casts the halves back)."""
        state = self.network.state_dict()
        if not self.half_precision:
            return state
        with torch.no_grad():
            for v in state.values():
                if v.is_floating_point():
                    v.copy_(v.half())
        return {k: v.half() if v.is_floating_point() else v for k, v in state.items()}

    def _restore(self, state: dict[str, Any]) -> None:
        """Put the contents of weights.pt back (the inverse of `_weights`)."""
        self.network.load_state_dict(state)
