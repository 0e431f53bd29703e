"""`CrystalDiffusion`: one checkpoint that does both CSP (atom types given) and de novo
generation (types generated), with optional property conditioning by classifier-free
guidance. Training draws the mode per cell (types clean or noised) so one network serves both.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import torch
from pymatgen.core import Composition, Structure
from tqdm.auto import tqdm

from matforge.candidate import Candidate
from matforge.errors import DataError, MatforgeError
from matforge.generators.base import Condition, Generator, read_config, write_config
from matforge.generators.crystal.diffusion.corruption import Schedule
from matforge.generators.crystal.diffusion.sampler import sample_batch
from matforge.generators.crystal.diffusion.score_model import ScoreNet
from matforge.generators.crystal.diffusion.training import FitOptions, Trainer, TrainingTensors
from matforge.representations.crystal import CrystalArrays, decode_structure, encode_structures

WEIGHTS = "weights.pt"


def _device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


class CrystalDiffusion(Generator):
    kind: ClassVar[str] = "crystal-diffusion"

    def __init__(self, hidden: int = 128, layers: int = 4, n_freq: int = 8, steps: int = 500,
                 step_lr: float = 1e-5, guidance: float = 1.0, **config: Any):
        self.config: dict[str, Any] = {"hidden": hidden, "layers": layers, "n_freq": n_freq,
                                       "steps": steps, "step_lr": step_lr,
                                       "guidance": guidance, **config}
        self.model: ScoreNet | None = None

    # ------------------------------------------------------------------ helpers
    @property
    def schedule(self) -> Schedule:
        return Schedule.make(int(self.config["steps"]))

    def _build(self) -> ScoreNet:
        c = self.config
        return ScoreNet(len(c["vocab"]), c["hidden"], c["layers"], c["n_freq"])

    def _require_model(self) -> ScoreNet:
        if self.model is None:
            raise MatforgeError("crystal diffusion model is not trained; fit or load it first")
        return self.model

    # ------------------------------------------------------------------ training
    def fit(self, dataset: pd.DataFrame, **options: Any) -> CrystalDiffusion:
        """Train on a structure data set. Options: max_minutes, epochs, batch_size, lr, seed,
        prop (column to condition on, default: first numeric property column or None),
        cond_drop (0.1), denovo_frac (0.5), threads, progress (True)."""
        if "cif" not in dataset.columns:
            raise DataError("crystal diffusion needs a structure data set (a 'cif' column)")
        opts = FitOptions.from_options(options)
        torch.manual_seed(opts.seed)
        rng = np.random.default_rng(opts.seed)
        if opts.threads:
            torch.set_num_threads(opts.threads)
        structures = [Structure.from_str(c, fmt="cif") for c in
                      tqdm(dataset["cif"], desc="parse cifs", disable=not opts.progress)]
        arrays, prop_values = self._fit_statistics(dataset, structures, opts.prop)
        dev = _device()
        model = self._build().to(dev)
        data = TrainingTensors.build(arrays, self.config, prop_values, dev)
        trainer = Trainer(model, self.schedule, data, opts)
        history = []
        bar = tqdm(range(opts.epochs), desc="train crystal-diffusion", disable=not opts.progress)
        epoch = 0
        for epoch in bar:
            history.append(trainer.run_epoch(epoch, rng))
            bar.set_postfix(loss=f"{history[-1]:.3f}")
            if trainer.timer.done():
                break
        self.config.update(trained_epochs=epoch + 1, train_seconds=round(trainer.timer.elapsed, 1),
                           final_loss=history[-1] if history else None, train_rows=len(data),
                           seed=opts.seed, ema=opts.ema)
        self.model = trainer.average.model.eval()
        return self

    def _fit_statistics(self, dataset: pd.DataFrame, structures: list[Structure],
                        prop: str | None) -> tuple[CrystalArrays, np.ndarray | None]:
        """Learn what sampling needs from the training cells (element vocabulary, lattice
        standardisation, cell-size distribution, property scaling) into `config`; returns
        the encoded cells and the raw property values (None when not conditioned)."""
        vocab = sorted({el.symbol for s in structures for el in s.composition.elements},
                       key=lambda e: Composition(e).elements[0].Z)
        arrays = encode_structures(structures, vocab)
        prop_values = None
        if prop:
            if prop not in dataset.columns:
                raise DataError(f"no property column {prop!r} to condition on")
            prop_values = dataset[prop].to_numpy(dtype=float)
        counts = np.bincount(arrays.mask.sum(1))
        self.config.update(vocab=vocab, lattice_mean=arrays.lattice.mean(0).tolist(),
                           lattice_std=(arrays.lattice.std(0) + 1e-3).tolist(),
                           max_atoms=int(arrays.mask.shape[1]),
                           n_atoms_probs=(counts / counts.sum()).tolist(), prop=prop)
        if prop_values is not None:
            ok = np.isfinite(prop_values)
            self.config.update(prop_mean=float(prop_values[ok].mean()),
                               prop_std=float(prop_values[ok].std() + 1e-9))
        return arrays, prop_values

    # ------------------------------------------------------------------ sampling
    def _decode(self, lat: torch.Tensor, frac: torch.Tensor, typ: torch.Tensor,
                mask: torch.Tensor, fixed_types: list[list[int]] | None) -> list[Structure]:
        c = self.config
        lat = lat.cpu().numpy() * np.array(c["lattice_std"]) + np.array(c["lattice_mean"])
        out = []
        for i in range(len(lat)):
            n = int(mask[i].sum())
            types = fixed_types[i] if fixed_types else typ[i, :n].argmax(-1).tolist()
            out.append(decode_structure(types, frac[i, :n].cpu().numpy(), lat[i], c["vocab"]))
        return out

    def _run(self, n_atoms: Sequence[int], types: list[list[int]] | None, seed: int,
             condition: Condition | None, batch_size: int = 256,
             progress: bool = False) -> list[Structure]:
        model = self._require_model()
        dev = next(model.parameters()).device
        gen = torch.Generator(device=dev).manual_seed(int(seed))
        prop_value = None
        if condition:
            name = self.config.get("prop")
            if not name or name not in condition:
                raise MatforgeError(f"this model conditions on {name!r}, not "
                                    f"{', '.join(condition)}")
            value = condition[name]
            value = (value[0] + value[1]) / 2 if isinstance(value, tuple) else value
            prop_value = (float(value) - self.config["prop_mean"]) / self.config["prop_std"]
        out: list[Structure] = []
        v = len(self.config["vocab"])
        for start in range(0, len(n_atoms), batch_size):
            chunk = list(n_atoms[start:start + batch_size])
            b, n = len(chunk), max(chunk)
            mask = torch.zeros(b, n, dtype=torch.bool, device=dev)
            for i, k in enumerate(chunk):
                mask[i, :k] = True
            typ = None
            chunk_types = types[start:start + batch_size] if types else None
            if chunk_types:
                idx = torch.zeros(b, n, dtype=torch.long, device=dev)
                for i, tt in enumerate(chunk_types):
                    idx[i, :len(tt)] = torch.tensor(tt)
                typ = torch.nn.functional.one_hot(idx, v).float() * 2 - 1
            prop = None if prop_value is None else torch.full((b, 1), prop_value, device=dev)
            lat, frac, typ_out = sample_batch(
                model, self.schedule, mask, typ, prop, float(self.config["guidance"]),
                float(self.config["step_lr"]), generator=gen,
                progress=(lambda it: tqdm(it, desc="denoise", leave=False)) if progress else None,
                n_steps=self.config.get("sample_steps"))
            out.extend(self._decode(lat, frac, typ_out, mask, chunk_types))
        return out

    def propose_many(self, compositions: Sequence[Composition | str], k: int = 1,
                     seed: int = 0, batch_size: int = 256, progress: bool = False
                     ) -> list[list[Structure]]:
        """k structures for each cell composition (atoms ordered by element)."""
        vocab = {e: i for i, e in enumerate(self._require_config_vocab())}
        all_types, n_atoms = [], []
        for comp in compositions:
            comp = self._cell_composition(comp)
            tt = []
            for el, amt in sorted(comp.items(), key=lambda kv: kv[0].Z):
                if el.symbol not in vocab:
                    raise MatforgeError(f"{comp.reduced_formula}: element {el.symbol} is not in "
                                        f"this model's training set")
                tt += [vocab[el.symbol]] * round(amt)
            for _ in range(k):
                all_types.append(tt)
                n_atoms.append(len(tt))
        flat = self._run(n_atoms, all_types, seed, None, batch_size, progress)
        return [flat[i * k:(i + 1) * k] for i in range(len(compositions))]

    def propose(self, composition: Composition | str, k: int = 1, seed: int = 0
                ) -> list[Structure]:
        """k structures for one composition (CSP)."""
        return self.propose_many([composition], k=k, seed=seed)[0]

    def _require_config_vocab(self) -> list[str]:
        self._require_model()
        return self.config["vocab"]

    def _cell_composition(self, comp: Composition | str) -> Composition:
        """A reduced formula below the smallest training cell is scaled up to the most common
        training cell size that is a multiple of it (C -> C8 style)."""
        try:
            comp = Composition(comp)
        except Exception as exc:  # noqa: BLE001
            raise MatforgeError(f"cannot read composition {comp!r}: {exc}") from None
        if any(abs(a - round(a)) > 1e-6 for a in comp.values()):
            raise MatforgeError(f"{comp.formula}: fractional amounts; give a cell formula")
        probs = np.array(self.config["n_atoms_probs"])
        n = round(comp.num_atoms)
        if n > self.config["max_atoms"] * 2:
            raise MatforgeError(f"{comp.formula}: {n} atoms; this model was trained on cells "
                                f"of at most {self.config['max_atoms']}")
        if probs[n:].sum() > 0 and (n < len(probs) and probs[n] > 0):
            return comp
        multiples = [m for m in range(1, len(probs)) if m * n < len(probs) and probs[m * n] > 0]
        if multiples:
            best = max(multiples, key=lambda m: probs[m * n])
            return comp * best
        return comp

    def sample(self, n: int, condition: Condition | None = None,
               seed: int | None = None) -> list[Candidate]:
        """De novo: cell sizes from the training distribution, types/lattice/coords generated."""
        seed = 0 if seed is None else int(seed)
        self._require_model()
        rng = np.random.default_rng(seed)
        probs = np.array(self.config["n_atoms_probs"])
        n_atoms = rng.choice(len(probs), size=n, p=probs).tolist()
        structures = self._run(n_atoms, None, seed, condition)
        return [Candidate.from_structure(s, provenance={"generator": self.kind, "seed": seed,
                                                        "index": i})
                for i, s in enumerate(structures)]

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> Path:
        model = self._require_model()
        path = write_config(path, self.kind, **self.config)
        state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
        torch.save(state, path / WEIGHTS)
        return path

    @classmethod
    def load(cls, path: str | Path) -> CrystalDiffusion:
        cfg = read_config(path)
        cfg.pop("kind", None)
        gen = cls(**cfg)
        weights = Path(path) / WEIGHTS
        if not weights.exists():
            raise MatforgeError(f"{path}: no {WEIGHTS}")
        model = gen._build()
        model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
        gen.model = model.to(_device()).eval()
        return gen
