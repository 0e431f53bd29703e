"""Objectives: what a campaign wants from each property, turned into a utility to maximise.

An objective is `COL:max`, `COL:min` or `COL:LOW..HIGH` (a target window). Every strategy
maximises utilities, so min becomes -value and a window becomes minus the distance outside it,
with a small pull towards the window centre so that ranking inside the window stays defined.
Pareto fronts and hypervolumes are computed on utilities.
"""

from __future__ import annotations

import re
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, model_validator

from matforge.errors import MatforgeError

CENTRE_PULL = 0.1  # utility per unit distance from the window centre, inside the window

_RANGE = re.compile(r"^\s*(-?[\d.eE+-]+)\s*\.\.\s*(-?[\d.eE+-]+)\s*$")


class Objective(BaseModel):
    """One property to optimise: maximise, minimise, or hit the window [low, high]."""

    model_config = ConfigDict(extra="forbid")

    name: str
    goal: Literal["max", "min", "range"] = "max"
    low: float | None = None
    high: float | None = None

    @model_validator(mode="after")
    def _check(self) -> Objective:
        if self.goal == "range" and (self.low is None or self.high is None
                                     or not self.low < self.high):
            raise MatforgeError(f"objective {self.name}: a range needs LOW < HIGH")
        return self

    @classmethod
    def parse(cls, text: str) -> Objective:
        """Parse the CLI form `COL:max`, `COL:min` or `COL:LOW..HIGH`."""
        name, sep, goal = text.rpartition(":")
        if not sep or not name:
            raise MatforgeError(f"objective '{text}': expected COL:max, COL:min or COL:LOW..HIGH")
        goal = goal.strip().lower()
        if goal in ("max", "min"):
            return cls(name=name, goal=goal)
        match = _RANGE.match(goal)
        if not match:
            raise MatforgeError(f"objective '{text}': expected COL:max, COL:min or COL:LOW..HIGH")
        return cls(name=name, goal="range", low=float(match.group(1)), high=float(match.group(2)))

    def utility(self, values: np.ndarray | float) -> np.ndarray:
        """Map raw property values to a utility where larger is better (NaN stays NaN)."""
        v = np.asarray(values, dtype=float)
        if self.goal == "max":
            return v
        if self.goal == "min":
            return -v
        centre, half = (self.low + self.high) / 2, (self.high - self.low) / 2
        dist = np.abs(v - centre)
        return -np.maximum(dist - half, 0.0) - CENTRE_PULL * dist

    def in_target(self, values: np.ndarray | float) -> np.ndarray:
        v = np.asarray(values, dtype=float)
        if self.goal != "range":
            return np.isfinite(v)
        return (v >= self.low) & (v <= self.high)

    def describe(self) -> str:
        return f"{self.name}:{self.low}..{self.high}" if self.goal == "range" else \
            f"{self.name}:{self.goal}"


_OUTCOME = re.compile(r"^\s*([A-Za-z_][\w.]*)\s*(<=|>=)\s*(-?[\d.eE+-]+)\s*$")


class OutcomeConstraint(BaseModel):
    """A condition on an oracle value, `NAME<=VALUE` or `NAME>=VALUE` (e_above_hull<=0.1).

    Results rank feasible candidates first; a missing value counts as not met."""

    model_config = ConfigDict(extra="forbid")

    name: str
    op: Literal["<=", ">="]
    value: float

    @classmethod
    def parse(cls, text: str) -> OutcomeConstraint:
        match = _OUTCOME.match(text)
        if not match:
            raise MatforgeError(f"outcome constraint '{text}': expected NAME<=VALUE or "
                                "NAME>=VALUE, e.g. e_above_hull<=0.1")
        return cls(name=match.group(1), op=match.group(2), value=float(match.group(3)))

    def met(self, values: np.ndarray | float) -> np.ndarray:
        v = np.asarray(values, dtype=float)
        with np.errstate(invalid="ignore"):
            ok = v <= self.value if self.op == "<=" else v >= self.value
        return np.isfinite(v) & ok

    def describe(self) -> str:
        return f"{self.name}{self.op}{self.value:g}"


def utilities(objectives: list[Objective], values: dict[str, np.ndarray]) -> np.ndarray:
    """(n, k) utilities of k objectives from raw value columns."""
    cols = [o.utility(values[o.name]) for j, o in enumerate(objectives)]
    return np.stack(cols, axis=1) if cols else np.zeros((0, 0))


def pareto_mask(points: np.ndarray) -> np.ndarray:
    """True for the non-dominated rows of `points` (maximisation, finite rows only)."""
    pts = np.asarray(points, dtype=float)
    finite = np.all(np.isfinite(pts), axis=1)
    mask = np.zeros(len(pts), dtype=bool)
    idx = np.nonzero(finite)[0]
    for i in idx:
        p = pts[i]
        others = pts[idx]
        dominated = np.any(np.all(others >= p, axis=1) & np.any(others > p, axis=1))
        mask[i] = not dominated
    return mask


def hypervolume(points: np.ndarray, ref: np.ndarray) -> float:
    """Hypervolume dominated by `points` above the reference point (maximisation).

    Exact for two objectives (sweep); for more, BoTorch's box decomposition is used.
    """
    pts = np.asarray(points, dtype=float)
    ref = np.asarray(ref, dtype=float)
    if len(pts) == 0:
        return 0.0
    pts = pts[np.all(np.isfinite(pts), axis=1)]
    pts = pts[np.all(pts > ref, axis=1)]
    if len(pts) == 0:
        return 0.0
    if pts.shape[1] == 1:
        return float(pts[:, 0].max() - ref[0])
    if pts.shape[1] == 2:
        front = pts[pareto_mask(pts)]
        front = front[np.argsort(-front[:, 0])]
        volume, prev_y = 0.0, ref[1]
        for x, y in front:
            if y > prev_y:
                volume += (x - ref[0]) * (y - prev_y)
                prev_y = y
        return float(volume)
    import torch
    from botorch.utils.multi_objective.hypervolume import Hypervolume

    return float(Hypervolume(torch.as_tensor(ref)).compute(torch.as_tensor(pts[pareto_mask(pts)])))
