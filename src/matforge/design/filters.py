"""Constraints as a filter: each proposal passes or is rejected with a one-line reason."""

from __future__ import annotations

from functools import lru_cache

from matforge.candidate import Candidate
from matforge.design.spec import Constraints
from matforge.errors import MatforgeError


class CandidateFilter:
    """Applies a campaign's Constraints; `__call__` returns (passed, reason) per candidate."""

    def __init__(self, constraints: Constraints):
        self.c = constraints
        self.allowed = set(constraints.allowed_elements) if constraints.allowed_elements else None
        self.forbidden = set(constraints.forbidden_elements)
        self.known: set[str] = set()
        if constraints.novel_against:
            from matforge.data import load_dataset
            from matforge.oracles.lookup import reduced_formula

            frame = load_dataset(constraints.novel_against)
            self.known = {reduced_formula(f) for f in frame["formula"]}
        self.hhi = None
        if constraints.max_hhi is not None:
            try:
                from pymatgen.analysis.hhi import HHIModel
            except ImportError:
                raise MatforgeError("max_hhi needs pymatgen's HHI model") from None
            self.hhi = HHIModel()

    def check(self, cand: Candidate) -> tuple[bool, str]:
        els = {e.symbol for e in cand.composition.elements}
        if self.allowed is not None and not els <= self.allowed:
            return False, "elements not allowed: " + ",".join(sorted(els - self.allowed))
        if els & self.forbidden:
            return False, "forbidden elements: " + ",".join(sorted(els & self.forbidden))
        if self.c.max_elements is not None and len(els) > self.c.max_elements:
            return False, f"{len(els)} elements > {self.c.max_elements}"
        if self.c.max_atoms is not None:
            n = len(cand.structure) if cand.structure is not None else \
                cand.composition.reduced_composition.num_atoms
            if n > self.c.max_atoms:
                return False, f"{n:g} atoms > {self.c.max_atoms}"
        if self.known and cand.formula in self.known:
            return False, "not novel"
        if self.c.validity != "none":
            ok, reason = _validity(cand.formula, self.c.validity)
            if not ok:
                return False, reason
        if self.hhi is not None:
            value = self.hhi.get_hhi_production(cand.composition)
            if value is None or value > self.c.max_hhi:
                return False, f"HHI {value} > {self.c.max_hhi}"
        return True, ""

    def __call__(self, cands: list[Candidate]) -> list[tuple[bool, str]]:
        return [self.check(c) for c in cands]


@lru_cache(maxsize=200_000)
def _validity(formula: str, mode: str) -> tuple[bool, str]:
    from matforge.chem import check_composition

    verdict = check_composition(formula)
    ok = verdict.valid_strict if mode == "strict" else verdict.valid
    return bool(ok), "" if ok else (verdict.reason or "not charge-neutral / EN-balanced")
