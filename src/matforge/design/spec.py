"""The campaign specification: one pydantic model, loadable from YAML, that CLI flags override.

Everything that decides what a campaign does lives here, so that a run folder's stored spec
is enough to resume it. Every model forbids unknown keys: a misspelt key ends in one line
that names it and the nearest valid key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from matforge.chem.geometry import StructureLimits
from matforge.chem.oxidation import DEFAULT_OXIDATION_SET
from matforge.design.objectives import Objective, OutcomeConstraint
from matforge.errors import MatforgeError, did_you_mean

STRICT = ConfigDict(extra="forbid")


class Constraints(BaseModel):
    """Filters applied to every proposal before it can be chosen for the oracle."""

    model_config = STRICT

    validity: Literal["none", "valid", "strict"] = "none"
    oxidation_set: str = DEFAULT_OXIDATION_SET  # SMACT's default; "smact14" for old tables
    allowed_elements: list[str] | None = None
    # None: noble gases and radioactive elements (chem.elements), minus any allowed_elements
    forbidden_elements: list[str] | None = None
    max_atoms: int | None = None  # atoms in the reduced formula unit (or the structure)
    max_elements: int | None = None
    max_hhi: float | None = None  # Herfindahl-Hirschman index of production (pymatgen HHI)
    # "known" (every composition matforge knows), a data set name or a CSV
    novel_against: str | None = None
    needs_template: bool = False  # an AFLOW prototype fits the composition (formula pools)
    # reject below this synthesizability score (0-1); "threshold": the model's own threshold
    min_synthesizability: float | Literal["threshold"] | None = None
    structure: StructureLimits = Field(default_factory=StructureLimits)  # for pool structures


class SourceSpec(BaseModel):
    """Where proposals come from: a pool file or data set, and/or a generator."""

    model_config = STRICT

    pool: str | None = None  # CSV with a formula column, or a registered data set name
    pool_split: str = "all"
    pool_size: int | None = None  # seeded subsample of the pool
    generator: str | None = None  # shipped model name or model directory
    generate_per_step: int = 200


class OracleSpec(BaseModel):
    """`lookup:FILE.csv[:COLUMN...]`, `chgnet`, `sevennet`, `command:PROG [ARGS]`,
    `plugin:module:attr`, `surrogate:MODEL_DIR` (a fitted property model as a cheap oracle),
    `synthesizability[:MODEL_DIR]` (the PU synthesizability score, 0-1), or kind `chain` with `stages`: each stage scores what the previous one passed."""

    model_config = STRICT

    kind: str = "lookup"
    target: str | None = None
    args: list[str] = Field(default_factory=list)
    timeout: float = 600.0
    options: dict[str, Any] = Field(default_factory=dict)
    stages: list[OracleSpec] = Field(default_factory=list)

    def check(self) -> None:
        """A registered kind, with what it needs and options its options model accepts
        (each chain stage too); one line naming a misspelt option."""
        from matforge.oracles.plugins import check_oracle

        for st in [self, *self.stages]:
            check_oracle(st.kind, st.target, st.args, st.timeout, st.stages, **st.options)

    @classmethod
    def parse(cls, text: str) -> OracleSpec:
        """`KIND[:TARGET]` (`command:PROG ARGS...`); the kind must be registered, and what it
        needs (a table, a program, a model) is checked with the campaign spec."""
        from matforge import registry

        kind, _, rest = text.partition(":")
        kind = kind.strip().lower()
        registry.get("oracle", kind)  # an unknown kind: one did-you-mean line
        if kind == "command":
            program, *args = rest.split() or [None]
            return cls(kind=kind, target=program, args=args)
        return cls(kind=kind, target=rest or None)


class StrategySpec(BaseModel):
    model_config = STRICT

    name: str = "bayesopt"
    options: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _registered(self) -> StrategySpec:
        """The name and options must fit a registered strategy's options model (one line
        naming a misspelt option). The options are stored as given, not with defaults."""
        self.check()
        return self

    def check(self) -> None:
        from matforge import registry

        registry.get("strategy", self.name).validate(self.options)


class CampaignSpec(BaseModel):
    """A whole campaign. `budget` counts oracle evaluations; `batch_size` is evaluations per step.

    `outcome_constraints` ("e_above_hull<=0.1") are conditions on oracle values: candidates
    that meet them rank ahead of those that do not in the results. `max_minutes` bounds the
    wall time of one run: no step starts that would not fit, and a resumed run continues."""

    model_config = STRICT

    objectives: list[Objective]
    outcome_constraints: list[OutcomeConstraint] = Field(default_factory=list)
    constraints: Constraints = Field(default_factory=Constraints)
    source: SourceSpec = Field(default_factory=SourceSpec)
    oracle: OracleSpec = Field(default_factory=OracleSpec)
    strategy: StrategySpec = Field(default_factory=StrategySpec)
    batch_size: int = Field(20, ge=1)
    budget: int = Field(100, ge=1)
    initial: int | None = None  # random evaluations before the strategy starts (default: batch)
    executor: Literal["serial", "batch", "process", "ray"] = "serial"
    workers: int = Field(2, ge=1)
    ray_address: str | None = None
    seed: int = 0
    max_minutes: float | None = Field(None, gt=0)
    n_final: int | None = Field(None, ge=1)  # ranked candidates written (None: all)
    preset: str | None = None  # set by a preset (the default campaign) for its outputs

    @field_validator("objectives", mode="before")
    @classmethod
    def _objectives(cls, value: Any) -> Any:
        if isinstance(value, (str, dict)):
            value = [value]
        out = []
        for item in value or []:
            out.append(Objective.parse(item) if isinstance(item, str) else item)
        return out

    @model_validator(mode="after")
    def _batch_for_potentials(self) -> CampaignSpec:
        """A CHGNet/SevenNet oracle relaxes a step's candidates together unless the spec
        names an executor: one call per candidate would relax them one at a time."""
        from matforge import registry

        stages = self.oracle.stages if self.oracle.kind == "chain" else [self.oracle]
        batched = [registry.find("oracle", s.kind) for s in stages]
        if "executor" not in self.model_fields_set and \
                any(p is not None and p.supports("batched") for p in batched):
            self.executor = "batch"
        return self

    @model_validator(mode="after")
    def _oracle_registered(self) -> CampaignSpec:
        """A given oracle (and each chain stage) must be a registered kind with options its
        options model accepts. A spec without an oracle is checked when it runs."""
        if "oracle" in self.model_fields_set:
            self.oracle.check()
        return self

    def check_plugins(self) -> None:
        """Strategy and oracle against their registered options models, for options changed
        after loading (`--option`, code): a campaign checks this before making its folder."""
        self.strategy.check()
        self.oracle.check()

    @field_validator("outcome_constraints", mode="before")
    @classmethod
    def _outcomes(cls, value: Any) -> Any:
        if isinstance(value, (str, dict)):
            value = [value]
        return [OutcomeConstraint.parse(v) if isinstance(v, str) else v for v in value or []]

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
        loc = tuple(first.get("loc", ()))
        where = ".".join(str(x) for x in loc)
        if first.get("type") == "extra_forbidden":
            raise MatforgeError(f"campaign spec: unknown key {where!r}"
                                f"{_suggestion(loc)}") from None
        raise MatforgeError(f"campaign spec: {where}: {first.get('msg')}") from None


def _suggestion(loc: tuple) -> str:
    """' (did you mean 'budget'?)' for a misspelt key, from the fields valid at that place."""
    model: Any = CampaignSpec
    for part in loc[:-1]:
        if isinstance(part, int) or model is None:
            continue
        field = model.model_fields.get(str(part))
        annotation = getattr(field, "annotation", None)
        model = next((a for a in (annotation, *getattr(annotation, "__args__", ()))
                      if isinstance(a, type) and issubclass(a, BaseModel)), None)
    if model is None:
        return ""
    return did_you_mean(str(loc[-1]), model.model_fields)
