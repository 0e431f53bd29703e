"""The model directory every trained model of matforge lives in.

A model directory holds `config.json` (with the model's registered `kind`), its weights, and
`MODEL_CARD.md` (data, split, command, metrics). Shipped models are folders under
`matforge/models/`; `resolve_model_dir` finds one by name or takes a path.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from matforge.errors import MatforgeError

SHIPPED_MODELS = Path(__file__).resolve().parent / "models"


def write_config(path: str | Path, kind: str, **config: Any) -> Path:
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.json").write_text(json.dumps({"kind": kind, **config}, indent=2,
                                                 default=_json_default))
    return path


def read_config(path: str | Path) -> dict[str, Any]:
    cfg = Path(path) / "config.json"
    if not cfg.exists():
        raise MatforgeError(f"{path}: not a model directory (no config.json)")
    return json.loads(cfg.read_text())


def read_model(name_or_dir: str | Path, kind: str) -> tuple[Path, dict[str, Any]]:
    """The directory of a shipped or saved model and its config, checked to hold `kind`."""
    path = resolve_model_dir(name_or_dir)
    cfg = read_config(path)
    if cfg.get("kind") != kind:
        raise MatforgeError(f"{path}: holds a {cfg.get('kind')!r} model, not {kind!r}")
    return path, cfg


def resolve_model_dir(name_or_dir: str | Path) -> Path:
    path = Path(name_or_dir).expanduser()
    if path.is_dir():
        return path
    shipped = SHIPPED_MODELS / str(name_or_dir)
    if shipped.is_dir():
        return shipped
    available = sorted(p.name for p in SHIPPED_MODELS.iterdir() if p.is_dir()) \
        if SHIPPED_MODELS.exists() else []
    raise MatforgeError(f"no model {name_or_dir!r}: not a directory, and not a shipped model "
                        f"(shipped: {', '.join(available) or 'none'})")


def _json_default(obj: Any) -> Any:
    # numpy arrays and scalars, paths: anything else becomes its string form
    if hasattr(obj, "tolist"):
        return obj.tolist()
    return str(obj)
