"""The generator interface and the model directory format.

A generator learns from a data set and samples candidates:
`fit(dataset, **options)`, `sample(n, condition=None, seed=None) -> list[Candidate]`,
`save(path)`, `load(path)`. A model directory holds `config.json` (with the generator's
registered `kind`), its weights (`weights.pt` loaded with `weights_only=True`, or
safetensors), and `MODEL_CARD.md` (data, split, command, metrics).

`load_generator(name_or_dir)` resolves a shipped model name (a folder under
`matforge/models/`) or a directory path, and builds the generator named by its config.
"""

from __future__ import annotations

import importlib
import json
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd

from matforge.candidate import Candidate
from matforge.errors import MatforgeError

SHIPPED_MODELS = Path(__file__).resolve().parent.parent / "models"

# kind -> "module:Class". Each generator module adds itself here (see `register_generator`).
GENERATOR_KINDS: dict[str, str] = {
    "composition-substitution": "matforge.generators.composition.substitution:SubstitutionGenerator",
    "composition-transformer": "matforge.generators.composition.transformer:TransformerGenerator",
    "composition-vae": "matforge.generators.composition.vae:VAEGenerator",
    "composition-gan": "matforge.generators.composition.gan:GANGenerator",
    "composition-blank": "matforge.generators.composition.blank:BlankFillingGenerator",
    "crystal-template": "matforge.generators.crystal.template:TemplateCSP",
    "crystal-random": "matforge.generators.crystal.random_symmetric:RandomSymmetricCSP",
    "crystal-diffusion": "matforge.generators.crystal.diffusion.generator:CrystalDiffusion",
}

Condition = dict[str, float | tuple[float, float]]


def register_generator(kind: str, target: str) -> None:
    GENERATOR_KINDS[kind] = target


class Generator(ABC):
    kind: ClassVar[str]

    @abstractmethod
    def fit(self, dataset: pd.DataFrame, **options: Any) -> Generator: ...

    @abstractmethod
    def sample(self, n: int, condition: Condition | None = None,
               seed: int | None = None) -> list[Candidate]: ...

    @abstractmethod
    def save(self, path: str | Path) -> Path: ...

    @classmethod
    @abstractmethod
    def load(cls, path: str | Path) -> Generator: ...


def write_config(path: str | Path, kind: str, **config: Any) -> Path:
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.json").write_text(json.dumps({"kind": kind, **config}, indent=2, default=str))
    return path


def read_config(path: str | Path) -> dict[str, Any]:
    cfg = Path(path) / "config.json"
    if not cfg.exists():
        raise MatforgeError(f"{path}: not a model directory (no config.json)")
    return json.loads(cfg.read_text())


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


def load_generator(name_or_dir: str | Path) -> Generator:
    path = resolve_model_dir(name_or_dir)
    kind = read_config(path).get("kind")
    if kind not in GENERATOR_KINDS:
        raise MatforgeError(f"{path}: unknown generator kind {kind!r} "
                            f"(known: {', '.join(sorted(GENERATOR_KINDS))})")
    module, cls_name = GENERATOR_KINDS[kind].split(":")
    cls = getattr(importlib.import_module(module), cls_name)
    return cls.load(path)
