"""Predict with a saved surrogate over a user file: the library call behind `matforge predict`."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from matforge.errors import MatforgeError
from matforge.model_dir import read_config, resolve_model_dir
from matforge.surrogates.base import load_surrogate


def predict_frame(model_dir: str | Path, frame: pd.DataFrame) -> pd.DataFrame:
    """Add `mean` and `std` columns to a frame with `formula` (and `cif` for structure models)."""
    from matforge.surrogates.train import inputs

    path = resolve_model_dir(model_dir)
    cfg = read_config(path)
    surrogate = load_surrogate(path)
    kind = "structure" if cfg["kind"] == "structure" else "composition"
    if kind == "composition" and "formula" not in frame.columns:
        raise MatforgeError("input has no 'formula' column")
    mean, std = surrogate.predict(inputs(frame, kind))
    out = frame.copy()
    out["mean"], out["std"] = mean, std
    return out


def predict_file(model_dir: str | Path, input_path: str | Path,
                 out: str | Path) -> tuple[int, str]:
    from matforge.data import load_dataset
    frame = load_dataset(str(input_path))
    result = predict_frame(model_dir, frame)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    result.to_csv(out, index=False)
    target = read_config(resolve_model_dir(model_dir)).get("target", "target")
    return len(result), target
