"""Constraints as a filter: each proposal passes or is rejected with a one-line reason."""

from __future__ import annotations

from functools import lru_cache

from matforge.candidate import Candidate
from matforge.chem.elements import DEFAULT_EXCLUDED
from matforge.chem.geometry import structure_problem
from matforge.design.spec import Constraints
from matforge.errors import MatforgeError


class CandidateFilter:
    """Applies a campaign's Constraints; `__call__` returns (passed, reason) per candidate.

    `novelty_reference` names what novelty was checked against (for outputs)."""

    def __init__(self, constraints: Constraints):
        self.c = constraints
        self.allowed = set(constraints.allowed_elements) if constraints.allowed_elements else None
        if constraints.forbidden_elements is None:  # the default: unsafe or inert elements
            self.forbidden = set(DEFAULT_EXCLUDED) - (self.allowed or set())
        else:
            self.forbidden = set(constraints.forbidden_elements)
        self.known: frozenset[str] | set[str] = frozenset()
        self.novelty_reference = ""
        if constraints.novel_against:
            self.known, self.novelty_reference = _novelty_reference(constraints.novel_against)
        self.templates = None
        if constraints.needs_template:
            from matforge.generators.crystal.template import TemplateCSP

            self.templates = TemplateCSP.from_aflow_prototypes()
        self.hhi = None
        if constraints.max_hhi is not None:
            try:
                from pymatgen.analysis.hhi import HHIModel
            except ImportError:
                raise MatforgeError("max_hhi needs pymatgen's HHI model") from None
            self.hhi = HHIModel()
        self.synth, self.min_synth = None, None
        if constraints.min_synthesizability is not None:
            from matforge.synthesizability import load_synthesizability_model

            self.synth = load_synthesizability_model()
            self.min_synth = self.synth.threshold if constraints.min_synthesizability == \
                "threshold" else float(constraints.min_synthesizability)

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
        if cand.structure is not None:
            problem = structure_problem(cand.structure, self.c.structure)
            if problem:
                return False, f"unphysical structure: {problem}"
        if self.known and cand.formula in self.known:
            return False, "not novel"
        if self.c.validity != "none":
            ok, reason = _validity(cand.formula, self.c.validity, self.c.oxidation_set)
            if not ok:
                return False, reason
        if self.templates is not None and cand.structure is None \
                and not self.templates.has_template(cand.composition):
            return False, "no prototype template"
        if self.hhi is not None:
            value = self.hhi.get_hhi_production(cand.composition)
            if value is None or value > self.c.max_hhi:
                return False, f"HHI {value} > {self.c.max_hhi}"
        return True, ""

    def __call__(self, cands: list[Candidate]) -> list[tuple[bool, str]]:
        verdicts = [self.check(c) for c in cands]
        if self.synth is None:
            return verdicts
        alive = [i for i, (ok, _) in enumerate(verdicts) if ok]
        # one batched call: the model scores thousands of compositions in about a second
        scores = self.synth.score([cands[i].composition for i in alive]) if alive else []
        for i, score in zip(alive, scores):
            if score < self.min_synth:
                verdicts[i] = (False, f"synthesizability {score:.2f} < {self.min_synth:.2f}")
        return verdicts


def _novelty_reference(name: str) -> tuple[frozenset[str] | set[str], str]:
    """Known formulas and a one-line description: "known" is everything matforge knows."""
    from matforge.chem.formula import reduced_formula
    from matforge.data.known import KNOWN, known_compositions

    if name == KNOWN:
        known = known_compositions()
        return known.formulas, known.describe()
    from matforge.data import load_dataset

    frame = load_dataset(name)
    formulas = {reduced_formula(f) for f in frame["formula"]}
    return formulas, f"{len(formulas):,} compositions of {name}"


@lru_cache(maxsize=200_000)
def _validity(formula: str, mode: str, oxidation_set: str) -> tuple[bool, str]:
    from matforge.chem import check_composition

    verdict = check_composition(formula, oxidation_set)
    ok = verdict.valid_strict if mode == "strict" else verdict.valid
    return bool(ok), "" if ok else (verdict.reason or "not charge-neutral / EN-balanced")
