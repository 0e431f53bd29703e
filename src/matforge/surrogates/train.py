"""Train a surrogate on a named data set or file: the library call behind
`matforge train surrogate`. Trains on the train split, calibrates the std on the val split
(never on test), reports test errors and calibration, and writes a model directory with a
model card."""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from matforge.errors import MatforgeError
from matforge.model_dir import read_config
from matforge.surrogates.calibration import calibration_report

CALIB_FRACTION = 0.15  # held out for calibration when train and val splits are the same
MODELS = {"composition": ("ensemble", "attention", "blend"), "structure": ("structure",)}


def _split(data: str, split: str, target: str, max_rows: int | None, seed: int) -> pd.DataFrame:
    from matforge.data import load_dataset

    frame = load_dataset(data, split=split)
    if target not in frame.columns:
        numeric = [c for c in frame.columns if c not in ("formula", "cif", "material_id", "split")]
        raise MatforgeError(f"{data}: no column {target!r} (columns: {', '.join(numeric)})")
    frame = frame[np.isfinite(pd.to_numeric(frame[target], errors="coerce"))].reset_index(drop=True)
    if max_rows is not None and len(frame) > max_rows:
        frame = frame.sample(n=max_rows, random_state=seed).reset_index(drop=True)
    return frame


def holdout(frame: pd.DataFrame, fraction: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split off `fraction` of the rows for calibration, whole formulas at a time (no
    composition on both sides), seeded; by rows when there are too few formulas to group
    (carbon-24 is all carbon)."""
    groups = frame["formula"].astype(str) if "formula" in frame.columns else None
    if groups is None or groups.nunique() < 20:
        groups = pd.Series(np.arange(len(frame)).astype(str))
    names = groups.unique()
    rng = np.random.default_rng(seed)
    held = set(rng.choice(names, size=max(1, round(fraction * len(names))), replace=False))
    mask = groups.isin(held).to_numpy()
    return frame[~mask].reset_index(drop=True), frame[mask].reset_index(drop=True)


def build(kind: str, model: str | None, target: str, seed: int, **opts: Any) -> Any:
    if kind not in MODELS:
        raise MatforgeError(f"unknown --kind {kind!r} (use composition or structure)")
    model = model or MODELS[kind][0]
    if model not in MODELS[kind]:
        raise MatforgeError(f"--model {model!r} does not fit --kind {kind} "
                            f"(use {', '.join(MODELS[kind])})")
    if model == "ensemble":
        from matforge.surrogates.ensemble import EnsembleSurrogate

        return EnsembleSurrogate(seed=seed, target=target, **opts)
    if model == "attention":
        from matforge.surrogates.attention import AttentionSurrogate

        return AttentionSurrogate(seed=seed, target=target, **opts)
    if model == "blend":
        from matforge.surrogates.blend import BlendSurrogate

        if "n_members" in opts:
            opts["ensemble"] = {"n_members": opts.pop("n_members")}
        return BlendSurrogate(seed=seed, target=target, **opts)
    from matforge.surrogates.structure import StructureSurrogate

    return StructureSurrogate(seed=seed, target=target, **opts)


def inputs(frame: pd.DataFrame, kind: str) -> list[Any]:
    """Formulas for composition models, Structures for structure models."""
    if kind == "structure":
        if "cif" not in frame.columns:
            raise MatforgeError("a structure surrogate needs a data set with a 'cif' column")
        from matforge.data.readers import parse_cif

        return [parse_cif(c, row=i + 1) for i, c in enumerate(frame["cif"])]
    return list(frame["formula"])


def train_surrogate(data: str, target: str, out: str | Path, kind: str = "composition",
                    model: str | None = None, seed: int = 0, max_train: int | None = None,
                    train_split: str = "train", val_split: str = "val",
                    test_split: str | None = "test", command: str = "",
                    **opts: Any) -> dict[str, Any]:
    """Fit on `train_split`, calibrate on `val_split`, score on `test_split`; save to `out`."""
    t0 = time.perf_counter()
    if val_split == train_split:  # e.g. perov-5 here, whose published train split is absent
        train, val = holdout(_split(data, train_split, target, None, seed), CALIB_FRACTION, seed)
        if max_train is not None and len(train) > max_train:
            train = train.sample(n=max_train, random_state=seed).reset_index(drop=True)
    else:
        train = _split(data, train_split, target, max_train, seed)
        val = _split(data, val_split, target, None, seed)
    surrogate, choice = fit_choosing_start(kind, model, target, seed, opts, train, val)
    metrics: dict[str, Any] = {"val": surrogate.info["calibration"]["after"]}
    if test_split:
        test = _split(data, test_split, target, None, seed)
        mean, std = surrogate.predict(inputs(test, kind))
        metrics["test"] = calibration_report(test[target].to_numpy(float), mean, std).to_dict()
    run = {"data": data, "target": target, "kind": kind, "splits": {
        "train": f"{train_split} ({len(train)} rows{', subsampled' if max_train else ''})",
        "calibration": f"{val_split} ({len(val)} rows"
                       f"{', held out of the train split' if val_split == train_split else ''})",
        "test": test_split},
        "seed": seed, "seconds": round(time.perf_counter() - t0, 1), "command": command,
        "python": platform.python_version(), "warnings": small_data_warnings(len(train), len(val)),
        "pretrained_choice": choice}
    path = surrogate.save(out, metrics=metrics, run=run)
    write_model_card(path, run, metrics)
    return {"path": str(path), "metrics": metrics, "run": run}


def fit_choosing_start(kind: str, model: str | None, target: str, seed: int,
                       opts: dict[str, Any], train: pd.DataFrame, val: pd.DataFrame
                       ) -> tuple[Any, dict[str, Any] | None]:
    """Fit on `train` (the held-out `val` goes into fit: the attention model keeps its best
    epoch on it, the blend chooses its weight on it, every model calibrates its std on it).

    With a pretrained start the same model is also fitted from scratch, and the one with the
    lower MAE on `val` is kept: pretrained features help where the target relates to a
    computed property and cost a little where it does not (benchmarks/transfer.py)."""
    starts = [opts] if opts.get("pretrained") is None else \
        [opts, {k: v for k, v in opts.items() if k != "pretrained"}]
    fitted = []
    for start in starts:
        surrogate = build(kind, model, target, seed, **start)
        surrogate.fit(inputs(train, kind), train[target].to_numpy(float), inputs(val, kind),
                      val[target].to_numpy(float))
        fitted.append((surrogate.info["calibration"]["after"]["mae"], surrogate))
    if len(fitted) == 1:
        return fitted[0][1], None
    (mae_pre, pre), (mae_scratch, scratch) = fitted
    keep = pre if mae_pre <= mae_scratch else scratch
    return keep, {"val_mae_pretrained": mae_pre, "val_mae_scratch": mae_scratch,
                  "kept": "pretrained" if keep is pre else "scratch"}


SMALL_TRAIN, SMALL_CALIBRATION = 50, 30


def small_data_warnings(n_train: int, n_val: int) -> list[str]:
    """What a user should know about a fit on little data: its std is calibrated on few rows,
    so intervals are wide and their coverage is itself uncertain."""
    out = []
    if n_train < SMALL_TRAIN:
        out.append(f"only {n_train} training rows: expect wide uncertainty; "
                   "--pretrained auto helps where the property relates to a computed one")
    if n_val < SMALL_CALIBRATION:
        out.append(f"the std is calibrated on only {n_val} rows: its coverage is uncertain")
    return out


def _choice_lines(choice: dict[str, Any] | None) -> list[str]:
    if not choice:
        return []
    return [(f"- start: {choice['kept']} (validation MAE with the pretrained features "
            f"{choice['val_mae_pretrained']:.4g}, from scratch {choice['val_mae_scratch']:.4g})")]


def write_model_card(path: Path, run: dict[str, Any], metrics: dict[str, Any]) -> None:
    cfg = read_config(path)
    lines = [f"# {cfg['kind']} surrogate for `{run['target']}`", "",
             f"- data: `{run['data']}`", f"- train split: {run['splits']['train']}",
             f"- std calibrated on: {run['splits']['calibration']}",
             f"- test split: {run['splits']['test']}", f"- seed: {run['seed']}",
             f"- command: `{run['command'] or 'library call'}`",
             f"- wall time: {run['seconds']} s (shared CPU; indicative only)",
             *(f"- warning: {w}" for w in run.get("warnings", [])),
             *_choice_lines(run.get("pretrained_choice")), "",
             "| split | n | MAE | RMSE | 68% cover | 95% cover | miscal. area |",
             "|---|---|---|---|---|---|---|"]
    for split, m in metrics.items():
        lines.append(f"| {split} | {m['n']} | {m['mae']:.4f} | {m['rmse']:.4f} | "
                     f"{m['coverage_68']:.3f} | {m['coverage_95']:.3f} | "
                     f"{m['miscalibration_area']:.3f} |")
    lines += ["", "Parameters:", "", "```json", json.dumps(cfg.get("params", {}), indent=2), "```"]
    (path / "MODEL_CARD.md").write_text("\n".join(lines) + "\n")
