"""Shared helpers for benchmark scripts: where results go and how, and Matbench's folds."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def _jsonable(obj: Any) -> Any:
    """Turn numpy scalars/arrays and NaN into plain JSON values (NaN -> null)."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if hasattr(obj, "tolist"):  # numpy scalar or array
        return _jsonable(obj.tolist())
    if isinstance(obj, float) and (math.isnan(obj) or math.isinf(obj)):
        return None
    if isinstance(obj, Path):
        return str(obj)
    return obj


def write_results(name: str, payload: dict, markdown: str) -> None:
    """Write benchmarks/results/<name>.{json,md}, so every benchmark reports the same way."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (RESULTS_DIR / f"{name}.json").write_text(
        json.dumps(_jsonable(payload), indent=2, sort_keys=True) + "\n"
    )
    text = markdown if markdown.endswith("\n") else markdown + "\n"
    (RESULTS_DIR / f"{name}.md").write_text(text)


def matbench_cv(frame: Any, seed: int, run_fold: Any, keys: tuple[str, ...]) -> dict:
    """Matbench's 5 folds (`KFold(5, shuffle=True, random_state=18012019)`, its documented
    procedure); within each training fold a seeded 10% is held out for calibration.
    `run_fold(train, cal, test)` scores one fold (a dict with `n` and `keys`); returns the means
    over folds of `keys`, the MAE spread over folds, the test size and the folds."""
    import numpy as np
    from sklearn.model_selection import KFold

    folds = []
    for k, (tr, te) in enumerate(KFold(5, shuffle=True, random_state=18012019).split(frame)):
        tr = np.random.default_rng(seed + k).permutation(tr)
        n_cal = len(tr) // 10
        folds.append(run_fold(frame.iloc[tr[n_cal:]], frame.iloc[tr[:n_cal]], frame.iloc[te]))
    out = {k: float(np.mean([f[k] for f in folds])) for k in keys}
    out["mae_std_over_folds"] = float(np.std([f["mae"] for f in folds]))
    out["n"] = int(sum(f["n"] for f in folds))
    out["folds"] = folds
    return out
