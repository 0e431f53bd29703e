"""The campaign specification: one pydantic model, loadable from YAML, that CLI flags override.

Everything that decides what a campaign does lives here, so that a run folder's stored spec
is enough to resume it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field, ValidationError, field_validator

from matforge.design.objectives import Objective
from matforge.errors import MatforgeError


class Constraints(BaseModel):
    """Filters applied to every proposal before it can be chosen for the oracle."""

    validity: Literal["none", "valid", "strict"] = "none"
    allowed_elements: list[str] | None = None
    forbidden_elements: list[str] = Field(default_factory=list)
    max_atoms: int | None = None  # atoms in the reduced formula unit (or the structure)
    max_elements: int | None = None
    max_hhi: float | None = None  # Herfindahl-Hirschman index of production (pymatgen HHI)
    novel_against: str | None = None  # dataset name or CSV: formulas in it are rejected


class SourceSpec(BaseModel):
    """Where proposals come from: a pool file or data set, and/or a generator."""

    pool: str | None = None  # CSV with a formula column, or a registered data set name
    pool_split: str = "all"
    pool_size: int | None = None  # seeded subsample of the pool
    generator: str | None = None  # shipped model name or model directory
    generate_per_step: int = 200


class OracleSpec(BaseModel):
    """`lookup:FILE.csv[:COLUMN...]`, `chgnet`, `command:PROG [ARGS]`, or `plugin:module:attr`."""

    kind: str = "lookup"
    target: str | None = None
    args: list[str] = Field(default_factory=list)
    timeout: float = 600.0
    options: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> OracleSpec:
        kind, _, rest = text.partition(":")
        kind = kind.strip().lower()
        if kind in ("chgnet", "sevennet"):
            return cls(kind=kind, target=rest or None)
        if kind == "lookup":
            if not rest:
                raise MatforgeError("--oracle lookup needs a file: lookup:FILE.csv")
            return cls(kind="lookup", target=rest)
        if kind == "command":
            parts = rest.split()
            if not parts:
                raise MatforgeError("--oracle command needs a program: command:PROG")
            return cls(kind="command", target=parts[0], args=parts[1:])
        if kind == "plugin":
            if not rest:
                raise MatforgeError("--oracle plugin needs an entry point: plugin:module:attr")
            return cls(kind="plugin", target=rest)
        raise MatforgeError(f"unknown oracle '{text}' (use lookup:FILE, chgnet, command:PROG, "
                            "plugin:module:attr)")


class StrategySpec(BaseModel):
    name: str = "bayesopt"
    options: dict[str, Any] = Field(default_factory=dict)


class CampaignSpec(BaseModel):
    """A whole campaign. `budget` counts oracle evaluations; `batch_size` is evaluations per step."""

    objectives: list[Objective]
    constraints: Constraints = Field(default_factory=Constraints)
    source: SourceSpec = Field(default_factory=SourceSpec)
    oracle: OracleSpec = Field(default_factory=OracleSpec)
    strategy: StrategySpec = Field(default_factory=StrategySpec)
    batch_size: int = Field(20, ge=1)
    budget: int = Field(100, ge=1)
    initial: int | None = None  # random evaluations before the strategy starts (default: batch)
    executor: Literal["serial", "process", "ray"] = "serial"
    workers: int = Field(2, ge=1)
    ray_address: str | None = None
    seed: int = 0

    @field_validator("objectives", mode="before")
    @classmethod
    def _objectives(cls, value: Any) -> Any:
        if isinstance(value, (str, dict)):
            value = [value]
        out = []
        for item in value or []:
            out.append(Objective.parse(item) if isinstance(item, str) else item)
        return out

    @field_validator("oracle", mode="before")
    @classmethod
    def _oracle(cls, value: Any) -> Any:
        return OracleSpec.parse(value) if isinstance(value, str) else value

    @field_validator("strategy", mode="before")
    @classmethod
    def _strategy(cls, value: Any) -> Any:
        return {"name": value} if isinstance(value, str) else value

    @field_validator("objectives")
    @classmethod
    def _nonempty(cls, value: list[Objective]) -> list[Objective]:
        if not value:
            raise ValueError("a campaign needs at least one objective")
        return value

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)


def load_spec(path: str | Path | None = None, **overrides: Any) -> CampaignSpec:
    """Read a YAML spec (optional) and apply CLI overrides (None means 'not given')."""
    data: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise MatforgeError(f"campaign config not found: {p}")
        try:
            data = yaml.safe_load(p.read_text()) or {}
        except yaml.YAMLError as exc:
            raise MatforgeError(f"{p}: not valid YAML ({exc.__class__.__name__})") from exc
        if not isinstance(data, dict):
            raise MatforgeError(f"{p}: a campaign config is a mapping of keys to values")
    for key, value in overrides.items():
        if value is None or value == [] or value == ():
            continue
        if key == "pool":
            data.setdefault("source", {})["pool"] = value
        elif key == "strategy":
            old = data.get("strategy")
            data["strategy"] = {**(old if isinstance(old, dict) else {}), "name": value}
        else:
            data[key] = value
    return spec_from_dict(data)


def spec_from_dict(data: dict[str, Any]) -> CampaignSpec:
    try:
        return CampaignSpec.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(x) for x in first.get("loc", ()))
        raise MatforgeError(f"campaign spec: {where}: {first.get('msg')}") from None
