"""A composition surrogate in the Roost/CrabNet style: self-attention over the elements of a
formula, each element an embedding (mat2vec when the table is present, else learned from
scratch) plus an encoding of its atomic fraction.

Each element token predicts a mean and a log standard deviation; the formula's prediction
is their fraction-weighted average. Training minimises the Laplace negative log-likelihood
(CrabNet's "robust L1"), so the std is heteroscedastic; with several members the spread of
their means is added. The std is then calibrated on held-out data like every surrogate here.
Weights load with `torch.load(weights_only=True)`.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from matforge.errors import MatforgeError
from matforge.model_dir import write_config
from matforge.representations.composition import ELEMENTS, padded_elements
from matforge.surrogates.base import (
    CalibratedPredictions,
    as_targets,
    composition_keys,
    encode_safely,
)
from matforge.surrogates.calibration import StdCalibrator


def mat2vec_table() -> np.ndarray | None:
    """(103, 200) mat2vec element embeddings from $MATFORGE_DATA_DIR/element_properties."""
    from matforge.data.paths import data_dirs

    for root in data_dirs():
        path = Path(root) / "element_properties" / "mat2vec.csv"
        if path.exists():
            frame = _read_table(path)
            table = np.zeros((len(ELEMENTS), frame.shape[1]), dtype=np.float32)
            for i, el in enumerate(ELEMENTS):
                if el in frame.index:
                    table[i] = frame.loc[el].to_numpy(np.float32)
            return table
    return None


def _read_table(path: Path) -> Any:
    import pandas as pd

    # element symbols are literal ("Na", "NaN"-like strings must not become missing values)
    return pd.read_csv(path, index_col=0, keep_default_na=False)


def _encode(X: Iterable[Any]) -> tuple[torch.Tensor, torch.Tensor]:
    idx, frac = encode_safely(composition_keys(X), padded_elements)
    return torch.as_tensor(idx), torch.as_tensor(frac, dtype=torch.float32)


class FractionEncoding(nn.Module):
    """Sinusoids of the fraction and of its logarithm (CrabNet's idea, own formulation)."""

    def __init__(self, d_model: int):
        super().__init__()
        n = d_model // 4
        self.register_buffer("freq", torch.exp(torch.linspace(0.0, math.log(1000.0), n)))
        self.proj = nn.Linear(4 * n, d_model)

    def forward(self, frac: torch.Tensor) -> torch.Tensor:
        f = frac.clamp_min(1e-6)[..., None]
        lin = f * self.freq
        log = (-torch.log2(f) / 20.0) * self.freq
        return self.proj(torch.cat([lin.sin(), lin.cos(), log.sin(), log.cos()], dim=-1))


class AttentionNet(nn.Module):
    def __init__(self, embedding: np.ndarray | None, d_model: int = 128, n_layers: int = 3,
                 heads: int = 4, dropout: float = 0.05, learned_dim: int = 64):
        super().__init__()
        if embedding is not None:
            self.embed = nn.Embedding.from_pretrained(torch.as_tensor(embedding), freeze=True)
        else:
            self.embed = nn.Embedding(len(ELEMENTS), learned_dim)
        self.proj = nn.Linear(self.embed.embedding_dim, d_model)
        self.frac_enc = FractionEncoding(d_model)
        layer = nn.TransformerEncoderLayer(d_model, heads, 2 * d_model, dropout,
                                           batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, n_layers, enable_nested_tensor=False)
        self.head = nn.Sequential(nn.Linear(d_model, 256), nn.SiLU(), nn.Linear(256, 128),
                                  nn.SiLU(), nn.Linear(128, 2))

    def forward(self, idx: torch.Tensor, frac: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mask = frac > 0
        x = self.proj(self.embed(idx)) + self.frac_enc(frac)
        x = self.encoder(x, src_key_padding_mask=~mask)
        out = self.head(x)  # (B, k, 2)
        w = frac / frac.sum(dim=1, keepdim=True)
        pooled = (out * w[..., None]).sum(dim=1)
        return pooled[:, 0], pooled[:, 1]


def laplace_nll(mu: torch.Tensor, log_std: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return (math.sqrt(2.0) * (y - mu).abs() * torch.exp(-log_std) + log_std).mean()


class AttentionSurrogate(CalibratedPredictions):
    """Attention over element embeddings with a heteroscedastic head; `predict` -> (mean, std)."""

    kind = "attention"

    def __init__(self, n_members: int = 1, seed: int = 0, d_model: int = 128, n_layers: int = 3,
                 heads: int = 4, dropout: float = 0.05, epochs: int = 60, batch_size: int = 256,
                 lr: float = 1e-3, weight_decay: float = 1e-4, max_minutes: float = 10.0,
                 embedding: str = "mat2vec", target: str = "target", progress: bool = True,
                 device: str | None = None, threads: int = 2):
        if embedding not in ("mat2vec", "learned"):
            raise MatforgeError("embedding must be 'mat2vec' or 'learned'")
        self.params = {"n_members": n_members, "seed": seed, "d_model": d_model, "n_layers": n_layers,
                           "heads": heads, "dropout": dropout, "epochs": epochs, "batch_size": batch_size,
                           "lr": lr, "weight_decay": weight_decay, "max_minutes": max_minutes,
                           "embedding": embedding}
        self.target = target
        self.progress = progress
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.threads = threads
        self.members: list[AttentionNet] = []
        self.y_mean, self.y_std = 0.0, 1.0
        self.embedding_used = embedding
        self.calibrator = StdCalibrator()
        self.calibrated = False
        self.info: dict[str, Any] = {}

    def _new_net(self, table: np.ndarray | None) -> AttentionNet:
        p = self.params
        return AttentionNet(table, p["d_model"], p["n_layers"], p["heads"], p["dropout"])

    def _table(self) -> np.ndarray | None:
        if self.params["embedding"] == "mat2vec":
            table = mat2vec_table()
            if table is not None:
                self.embedding_used = "mat2vec"
                return table
        self.embedding_used = "learned"
        return None

    def fit(self, X: Iterable[Any], y: Iterable[float], X_val: Iterable[Any] | None = None,
            y_val: Iterable[float] | None = None) -> AttentionSurrogate:
        """Train each member within the time budget; keep the epoch with the best val MAE."""
        torch.set_num_threads(min(self.threads, os.cpu_count() or 1))
        idx, frac = _encode(X)
        target = torch.as_tensor(as_targets(y, len(idx)), dtype=torch.float32)
        if len(idx) < 10:
            raise MatforgeError(f"need at least 10 training rows, got {len(idx)}")
        self.y_mean, self.y_std = float(target.mean()), float(target.std()) or 1.0
        yt = (target - self.y_mean) / self.y_std
        val = None
        if X_val is not None and y_val is not None:
            vi, vf = _encode(X_val)
            val = (vi, vf, as_targets(y_val, len(vi)))
        p = self.params
        table = self._table()
        deadline = time.perf_counter() + 60.0 * p["max_minutes"]
        t0 = time.perf_counter()
        self.members, history = [], []
        for m in range(p["n_members"]):
            gen = torch.Generator().manual_seed(int(p["seed"]) * 1000 + m)
            torch.manual_seed(int(p["seed"]) * 1000 + m)
            net = self._new_net(table).to(self.device)
            opt = torch.optim.AdamW([q for q in net.parameters() if q.requires_grad], lr=p["lr"],
                                    weight_decay=p["weight_decay"])
            steps_per_epoch = math.ceil(len(idx) / p["batch_size"])
            sched = torch.optim.lr_scheduler.OneCycleLR(
                opt, max_lr=p["lr"], total_steps=p["epochs"] * steps_per_epoch, pct_start=0.1)
            member_deadline = t0 + (deadline - t0) * (m + 1) / p["n_members"]
            best, best_state, epochs_done = float("inf"), None, 0
            bar = tqdm(range(p["epochs"]), desc=f"attention member {m + 1}/{p['n_members']}",
                       disable=not self.progress)
            for _ in bar:
                net.train()
                order = torch.randperm(len(idx), generator=gen)
                for s in range(0, len(idx), p["batch_size"]):
                    b = order[s:s + p["batch_size"]]
                    mu, log_std = net(idx[b].to(self.device), frac[b].to(self.device))
                    loss = laplace_nll(mu, log_std, yt[b].to(self.device))
                    opt.zero_grad()
                    loss.backward()
                    nn.utils.clip_grad_norm_(net.parameters(), 1.0)
                    opt.step()
                    sched.step()
                epochs_done += 1
                if val is not None:
                    mean, _ = self._predict_net(net, val[0], val[1])
                    score = float(np.abs(mean - val[2]).mean())
                    bar.set_postfix(val_mae=f"{score:.4f}")
                    if score < best:
                        best = score
                        best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
                if time.perf_counter() > member_deadline:
                    break
            if best_state is not None:
                net.load_state_dict(best_state)
            net.eval()
            self.members.append(net)
            history.append({"epochs": epochs_done, "best_val_mae": best})
        self.info = {"n_train": len(idx), "fit_seconds": round(time.perf_counter() - t0, 1),
                     "members": history, "embedding": self.embedding_used}
        self.calibrator, self.calibrated = StdCalibrator(), False
        if val is not None:
            self.calibrate(X_val, y_val)
        return self

    @torch.no_grad()
    def _predict_net(self, net: AttentionNet, idx: torch.Tensor, frac: torch.Tensor,
                     chunk: int = 4096) -> tuple[np.ndarray, np.ndarray]:
        net.eval()
        mus, sds = [], []
        for s in range(0, len(idx), chunk):
            mu, log_std = net(idx[s:s + chunk].to(self.device), frac[s:s + chunk].to(self.device))
            mus.append(mu.cpu())
            sds.append(torch.exp(log_std).cpu())
        mean = torch.cat(mus).numpy().astype(float) * self.y_std + self.y_mean
        std = torch.cat(sds).numpy().astype(float) * self.y_std
        return mean, std

    def predict_raw(self, X: Iterable[Any]) -> tuple[np.ndarray, np.ndarray]:
        if not self.members:
            raise MatforgeError("the surrogate is not fitted (call fit or load)")
        idx, frac = _encode(X)
        outs = [self._predict_net(net, idx, frac) for net in self.members]
        means = np.stack([o[0] for o in outs])
        var = np.stack([o[1] ** 2 for o in outs]).mean(axis=0)
        if len(outs) > 1:
            var = var + means.var(axis=0, ddof=1)
        return means.mean(axis=0), np.sqrt(var)

    def save(self, path: str | Path, **extra: Any) -> Path:
        if not self.members:
            raise MatforgeError("the surrogate is not fitted (call fit or load)")
        path = write_config(path, self.kind, target=self.target, params=self.params,
                                  embedding_used=self.embedding_used, y_mean=self.y_mean,
                                  y_std=self.y_std, calibrator=self.calibrator.to_dict(),
                                  calibrated=self.calibrated, info=self.info,
                                  n_members=len(self.members), **extra)
        torch.save({f"m{i}.{k}": v.cpu() for i, net in enumerate(self.members)
                    for k, v in net.state_dict().items()}, path / "weights.pt")
        return path

    @classmethod
    def load(cls, path: str | Path) -> AttentionSurrogate:
        path = Path(path)
        cfg = cls.read_saved_config(path)
        model = cls(**cfg["params"], target=cfg.get("target", "target"), progress=False)
        state = torch.load(path / "weights.pt", map_location="cpu", weights_only=True)
        table = np.zeros((len(ELEMENTS), 200), np.float32) \
            if cfg.get("embedding_used") == "mat2vec" else None
        for i in range(cfg["n_members"]):
            prefix = f"m{i}."
            if table is not None:
                table = state[prefix + "embed.weight"].numpy()
            net = model._new_net(table)
            net.load_state_dict({k[len(prefix):]: v for k, v in state.items()
                                 if k.startswith(prefix)})
            net.to(model.device).eval()
            model.members.append(net)
        model.embedding_used = cfg.get("embedding_used", "learned")
        model.y_mean, model.y_std = cfg["y_mean"], cfg["y_std"]
        model.restore_calibration(cfg)
        return model
