"""Shared helper for benchmark scripts: one place that decides where results go and how."""

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
