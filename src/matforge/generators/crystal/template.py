"""Template-based crystal structure prediction (CSP): reuse a known structure type.

Most new inorganic compounds crystallise in a structure type already seen for an analogous
composition. Given a composition, `TemplateCSP` looks up reference structures ("templates")
whose anonymized reduced formula matches (ABX3 <-> ABX3), assigns the new elements to the
template sites so the swapped elements are chemically closest (electronegativity, radius,
common oxidation state, periodic-table position), rescales the lattice with a volume model
learned from the reference set (per-element volumes, ridge-regularised towards radius-based
defaults), and ranks the results by that chemical distance (optionally re-ranked by a
user callback, e.g. a CHGNet energy).

Templates come from pymatgen's AFLOW prototype library (`from_aflow_prototypes`, ~290
prototypes, no training) or any structure set (`from_structures`, `fit(dataset_df)`).
"""

from __future__ import annotations

import gzip
import itertools
import json
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from pymatgen.core import Composition, Element, Structure

from matforge.candidate import Candidate
from matforge.errors import DataError, MatforgeError
from matforge.generators.base import Condition, Generator, read_config, write_config
from matforge.representations.composition import ELEMENT_INDEX, ELEMENTS

MIN_DISTANCE = 0.5  # Å; no two atoms of a proposal are closer than this
MAX_PERMUTATIONS = 720  # element-to-site assignments tried per template signature
TEMPLATES_FILE = "templates.json.gz"

# Weights of the element-distance terms (per Pauling unit, Å, oxidation unit, row, column).
# Size dominates: on two halves of Perov-5 *val* (templates from one, targets from the
# other) radius alone put the right structure first most often; the rest break ties.
FEATURE_WEIGHTS = np.array([0.1, 1.0, 0.05, 0.02, 0.01])
# Consensus vote over the nearest proposals: rank weights 1/(1+rank)^power. A plain majority
# (power 0) of 10: on held-out Perov-5 val halves (templates from one half, 200 targets from
# the other) it matched 50.0% at RMSE 0.098 against 49.0% / 0.125 for the old rank-weighted
# vote of 5 and 48.5% / 0.090 for the nearest template alone.
VOTE_RANK_POWER = 0.0
CONSENSUS = 10
# Popularity (0..1) is subtracted from the score with this weight: among polymorphs of one
# composition (all at chemical distance 0, e.g. every Carbon-24 cell) the structure type that
# recurs most in the reference set goes first, the mode rather than a random polymorph.
POPULARITY_WEIGHT = 0.05


@lru_cache(maxsize=1)
def element_features() -> np.ndarray:
    """(103, 5): Pauling electronegativity, radius (Å), common oxidation state, row, group.

    The radius is the average ionic radius where pymatgen has one, else the atomic radius:
    what matters for substitution is the size an element takes in a compound."""
    import warnings

    table = np.zeros((len(ELEMENTS), 5))
    for i, symbol in enumerate(ELEMENTS):
        el = Element(symbol)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # noble gases: "no Pauling electronegativity"
            x = el.X
        x = x if x and not np.isnan(x) else 1.5  # nan for noble gases
        radius = float(el.average_ionic_radius or 0.0) or float(el.atomic_radius or 1.5)
        oxi = el.common_oxidation_states[0] if el.common_oxidation_states else 0
        table[i] = (x, radius, oxi, el.row, el.group)
    return table


def _default_volumes() -> np.ndarray:
    """Per-element atomic volume prior (Å^3): a sphere of the element's radius, packed ~0.5."""
    r = element_features()[:, 1]
    return (4.0 / 3.0) * np.pi * r**3 / 0.5


def _element_index(symbol: str) -> int:
    if symbol not in ELEMENT_INDEX:
        raise MatforgeError(f"element {symbol!r} is outside H..Lr; no template CSP for it")
    return ELEMENT_INDEX[symbol]


def signature(composition: Composition) -> tuple[int, ...]:
    """Anonymized reduced formula as sorted integer amounts: BaTiO3 and SrZrO3 -> (1, 1, 3)."""
    reduced, _ = composition.get_reduced_composition_and_factor()
    amounts = [reduced[el] for el in reduced.elements]
    if any(abs(a - round(a)) > 1e-6 for a in amounts):
        raise MatforgeError(f"{composition.formula}: fractional amounts; templates need integers")
    return tuple(sorted(round(a) for a in amounts))


def _ordered_elements(composition: Composition) -> list[str]:
    """Elements ordered by (reduced amount, electronegativity) so signatures line up."""
    reduced, _ = composition.get_reduced_composition_and_factor()
    return [el.symbol for el in sorted(reduced.elements, key=lambda e: (reduced[e], e.X or 0.0,
                                                                        e.symbol))]


@dataclass
class _Template:
    structure: Structure
    elements: list[str]  # ordered as in `signature` (amount, then electronegativity)
    source: str
    popularity: float = 0.0  # share of sampled same-formula, same-size templates it matches


def _parse_composition(composition: Composition | str) -> Composition:
    try:
        comp = Composition(composition)
    except Exception as exc:  # noqa: BLE001 - pymatgen raises several types for bad formulas
        raise MatforgeError(f"cannot read composition {composition!r}: {exc}") from None
    if comp.num_atoms <= 0:
        raise MatforgeError(f"empty composition {composition!r}")
    for el in comp.elements:
        _element_index(el.symbol)
    return comp


class TemplateCSP(Generator):
    """Substitute-and-rescale CSP over a library of reference structures."""

    kind: ClassVar[str] = "crystal-template"

    def __init__(self, templates: Sequence[_Template] | None = None,
                 source: str = "structures",
                 rank_fn: Callable[[list[Structure]], Sequence[float]] | None = None,
                 consensus: int = CONSENSUS):
        self.source = source
        self.consensus = consensus
        self.rank_fn = rank_fn
        self._set_templates(list(templates or []))

    # ----------------------------------------------------------------- construction
    @classmethod
    def from_structures(cls, structures: Iterable[Any], source: str = "structures",
                        **kwargs: Any) -> TemplateCSP:
        """Templates from any reference set (Structures, ase.Atoms or CIF strings)."""
        from matforge.candidate import to_structure

        templates = []
        for s in structures:
            s = to_structure(s)
            if not s.is_ordered:
                continue  # partial occupancies cannot be substituted site by site
            templates.append(_Template(s, _ordered_elements(s.composition), source))
        if not templates:
            raise DataError("no ordered structures to build templates from", source=source)
        return cls(templates, source=source, **kwargs)

    @classmethod
    def from_aflow_prototypes(cls, **kwargs: Any) -> TemplateCSP:
        """The AFLOW prototype library shipped with pymatgen (no training needed)."""
        import importlib.util

        # Locate the file without importing pymatgen.analysis.prototypes, whose import
        # decodes every prototype into StructureNL objects (~10 s).
        spec = importlib.util.find_spec("pymatgen.analysis.prototypes")
        if spec is None or not spec.submodule_search_locations:
            raise MatforgeError("pymatgen's AFLOW prototype library is not installed")
        path = Path(next(iter(spec.submodule_search_locations))) / "aflow_prototypes.json.gz"
        with gzip.open(path, "rt") as fh:
            entries = json.load(fh)
        structures = []
        for entry in entries:
            snl = entry["snl"]
            structures.append(Structure.from_dict({k: snl[k] for k in ("lattice", "sites")}
                                                  | {"@module": "pymatgen.core.structure",
                                                     "@class": "Structure"}))
        return cls.from_structures(structures, source="aflow-prototypes", **kwargs)

    def _set_templates(self, templates: list[_Template]) -> None:
        self.templates = templates
        self._groups: dict[tuple[int, ...], list[int]] = defaultdict(list)
        for i, t in enumerate(templates):
            self._groups[signature(t.structure.composition)].append(i)
        self._fit_volumes()
        self._popularity = np.array([t.popularity for t in templates], dtype=float)
        self._pending_popularity: dict[tuple[int, ...], list[np.ndarray]] = {}
        self._template_formula = [t.structure.composition.reduced_formula for t in templates]
        feats = element_features()
        self._group_arrays = {}
        for sig, idx in self._groups.items():
            el_idx = np.array([[_element_index(e) for e in self.templates[i].elements]
                               for i in idx])
            natoms = np.array([len(self.templates[i].structure) for i in idx])
            self._group_arrays[sig] = (np.array(idx), feats[el_idx], natoms)

    def _fit_volumes(self) -> None:
        """Per-element volumes by ridge regression of cell volume on element counts, pulled
        towards the radius prior, so unseen elements still get a sensible volume."""
        prior = _default_volumes()
        if not self.templates:
            self.element_volumes = prior
            return
        counts = np.zeros((len(self.templates), len(ELEMENTS)))
        volumes = np.zeros(len(self.templates))
        for i, t in enumerate(self.templates):
            for el, amt in t.structure.composition.items():
                counts[i, _element_index(el.symbol)] += amt
            volumes[i] = t.structure.volume
        # Scale the prior to the data first, then regress the residual per element.
        scale = float(volumes.sum() / max((counts @ prior).sum(), 1e-9))
        prior = prior * scale
        lam = 5.0  # in units of atoms: an element seen in a handful of cells keeps its prior
        a = np.vstack([counts, np.sqrt(lam) * np.eye(len(ELEMENTS))])
        b = np.concatenate([volumes - counts @ prior, np.zeros(len(ELEMENTS))])
        delta, *_ = np.linalg.lstsq(a, b, rcond=None)
        self.element_volumes = np.clip(prior + delta, 0.2 * prior, None)

    def predict_volume(self, composition: Composition) -> float:
        """Cell volume (Å^3) the learned per-element volumes give this composition."""
        return float(sum(amt * self.element_volumes[_element_index(el.symbol)]
                         for el, amt in composition.items()))

    # ----------------------------------------------------------------- queries
    def has_template(self, composition: Composition | str) -> bool:
        """Is there any template with this anonymized formula? (a dict lookup)"""
        try:
            return signature(_parse_composition(composition)) in self._groups
        except MatforgeError:
            return False

    def propose(self, composition: Composition | str, k: int = 3, seed: int = 0,
                rank_fn: Callable[[list[Structure]], Sequence[float]] | None = None,
                consensus: int | None = None, exclude: Collection[str] = (),
                popularity: bool = True) -> list[Structure]:
        """Up to `k` distinct structures for `composition`, best first.

        `exclude`: reduced formulas whose templates are not used (leave-one-out benchmarks
        take a composition's own known structures out of the library this way).

        `consensus` (default `self.consensus`, 0/1 = off): among that many nearest proposals,
        the structure family most of them reproduce (StructureMatcher) goes first
        (`consensus_order`), a vote of near neighbours.
        `popularity`: weigh polymorphs by their popularity among the templates (where
        `fit` or `use_popularity` gave them one).
        `rank_fn(structures) -> energies` (lower first) re-ranks the proposals instead.

        Raises MatforgeError when no template has the composition's anonymized formula."""
        comp = _parse_composition(composition)
        sig = signature(comp)
        if sig not in self._groups:
            raise MatforgeError(f"{comp.reduced_formula}: no template with anonymized formula "
                                f"{comp.anonymized_formula} in {len(self.templates)} templates "
                                f"({self.source})")
        rank_fn = rank_fn or self.rank_fn
        consensus = self.consensus if consensus is None else consensus
        idx, targets, perms, n_target, order, costs = self._plan(comp, seed, popularity)
        best, best_perm = costs.min(axis=1), costs.argmin(axis=1)
        want = max(3 * k, k + 5) if rank_fn else max(k, consensus)
        out: list[Structure] = []
        seen: set = set()
        for j in order:
            if exclude and self._template_formula[idx[j]] in exclude:
                continue
            s = self._substitute(int(idx[j]), [targets[i] for i in perms[best_perm[j]]],
                                 comp, n_target)
            key = _fingerprint(s)
            if key in seen:
                continue
            seen.add(key)
            s.properties = {"template_source": self.templates[idx[j]].source,
                            "template_index": int(idx[j]),
                            "template_formula": self.templates[idx[j]].structure.formula,
                            "chemical_distance": float(best[j])}
            out.append(s)
            if len(out) >= want:
                break
        if rank_fn is not None and out:
            energies = np.asarray(rank_fn(out), dtype=float)
            energies = np.where(np.isfinite(energies), energies, np.inf)
            out = [out[i] for i in np.argsort(energies, kind="stable")]
        elif consensus > 1 and len(out) > 1:
            out = _vote(out, consensus)
        return out[:k]

    def _plan(self, comp: Composition, seed: int, popularity: bool) -> tuple:
        """For a composition with templates: the template indices of its anonymized formula,
        its elements in slot order, the permitted site assignments, its atom count, the
        templates nearest first (`_rank_templates`) and the (templates, assignments) costs."""
        sig = signature(comp)
        idx = self._group_arrays[sig][0]
        targets = _ordered_elements(comp)
        perms = _block_permutations(sig, len(targets))
        n_target = round(comp.num_atoms)
        costs = self._assignment_costs(sig, targets, perms)
        order = self._rank_templates(sig, costs, n_target, np.random.default_rng(seed),
                                     popularity)
        return idx, targets, perms, n_target, order, costs

    def _rank_templates(self, sig: tuple, costs: np.ndarray, n_target: int,
                        rng: np.random.Generator, popularity: bool) -> np.ndarray:
        """The templates of anonymized formula `sig`, nearest first: by the chemical distance
        of their best site assignment (`costs`), a penalty for a cell size that does not fit
        `n_target` atoms, and (with `popularity`) a bonus for popular prototypes."""
        idx, _, natoms = self._group_arrays[sig]
        mismatch = np.where(natoms == n_target, 0.0,
                            np.where(n_target % natoms == 0, 0.3, 1.0))
        score = costs.min(axis=1) + mismatch + 1e-6 * rng.random(len(idx))  # seeded tie-break
        if popularity:
            self._match_popularity(sig)
            score = score - POPULARITY_WEIGHT * self._popularity[idx]
        return np.argsort(score)

    def _assignment_costs(self, sig: tuple, targets: list[str],
                          perms: list[tuple[int, ...]]) -> np.ndarray:
        """(templates of `sig`, perms): the amount-weighted chemical distance of putting the
        target elements on each template's sites in each permitted order."""
        _, tfeats, _ = self._group_arrays[sig]
        target_feats = element_features()[[_element_index(e) for e in targets]]  # (m, f)
        amounts = np.array(sig, dtype=float)
        costs = np.empty((len(tfeats), len(perms)))
        for p, perm in enumerate(perms):
            diff = np.abs(tfeats - target_feats[list(perm)][None]) @ FEATURE_WEIGHTS  # (T, m)
            costs[:, p] = diff @ amounts / amounts.sum()
        return costs

    def substitutions(self, composition: Composition | str, n: int, assignments: int = 2,
                      exclude: Collection[str] = (), max_atoms: int | None = None,
                      seed: int = 0) -> list[Structure]:
        """Structures of `composition` from up to `n` distinct structure types, nearest
        template first, each with its `assignments` chemically closest site assignments.

        Unlike `propose`, which keeps the nearest proposals whatever their type, this spreads
        over structure types (space group and Wyckoff sites, `prototype_key`) and ranks them
        by chemistry alone, without popularity: a structure search scores every candidate by
        energy, so breadth matters more than the ranking.
        Empty when no template has the composition's anonymized formula."""
        comp = _parse_composition(composition)
        sig = signature(comp)
        if n <= 0 or sig not in self._groups:
            return []
        idx, targets, perms, n_target, order, costs = self._plan(comp, seed, popularity=False)
        out: list[Structure] = []
        types: set = set()
        for j in order:
            t = int(idx[j])
            if exclude and self._template_formula[t] in exclude:
                continue
            if max_atoms and _cell_size(len(self.templates[t].structure), n_target) > max_atoms:
                continue
            key = self.prototype_key(t)
            if key in types:
                continue
            types.add(key)
            for p in np.argsort(costs[j], kind="stable")[:assignments]:
                s = self._substitute(t, [targets[i] for i in perms[p]], comp, n_target)
                s.properties = {"template_source": self.templates[t].source,
                                "template_formula": self.templates[t].structure.formula,
                                "chemical_distance": float(costs[j, p])}
                out.append(s)
            if len(types) >= n:
                break
        return out

    def prototype_key(self, t: int) -> tuple:
        """Template `t`'s structure type: space group and the Wyckoff letters of each site
        slot (slots ordered as in `signature`); computed once per template."""
        cache = self.__dict__.setdefault("_prototype_keys", {})
        if t not in cache:
            cache[t] = _prototype_key(self.templates[t])
        return cache[t]

    def _substitute(self, t: int, new_elements: list[str], comp: Composition,
                    n_target: int) -> Structure:
        template = self.templates[t]
        mapping = dict(zip(template.elements, new_elements))
        s = template.structure.copy()
        s.replace_species({Element(old): Element(new) for old, new in mapping.items()})
        if n_target > len(s) and n_target % len(s) == 0:
            s.make_supercell([n_target // len(s), 1, 1])
        old_pred = self.predict_volume(template.structure.composition)
        new_pred = self.predict_volume(s.composition)
        volume = template.structure.volume * (len(s) / len(template.structure))
        s.scale_lattice(volume * new_pred / max(old_pred * len(s) / len(template.structure),
                                                1e-9))
        return _push_apart(s)

    # ----------------------------------------------------------------- Generator API
    def fit(self, dataset: pd.DataFrame, **options: Any) -> TemplateCSP:
        """Use every structure (`cif` column) of a data set as a template.

        `popularity_sample` (default 40, 0 = off): per group of same-formula, same-size
        templates, that many are matched pairwise to find the recurring structure types."""
        if "cif" not in dataset.columns:
            raise DataError("template CSP needs a structure data set (a 'cif' column)")
        new = TemplateCSP.from_structures(dataset["cif"].tolist(),
                                          source=str(options.get("source", "dataset")))
        self.source = new.source
        self._set_templates(new.templates)
        sample = int(options.get("popularity_sample", 40))
        if sample > 1:
            self.use_popularity(sample, seed=int(options.get("seed", 0)))
        return self

    def use_popularity(self, sample: int = 40, seed: int = 0) -> None:
        """Give every template its polymorph popularity: the share of (up to `sample`)
        randomly drawn templates with its reduced formula and atom count that it matches; 0
        in groups under 3 and for undrawn ones.

        Composition alone cannot choose between polymorphs; the type the reference set keeps
        returning to is the best single guess (on Carbon-24 val halves it tripled the
        1-sample match rate over a random polymorph). Matched lazily: a group's drawn
        structures are compared the first time a query reaches its anonymized formula (all of
        Carbon-24 val at once takes ~35 s); `popularities()` matches the rest, with the same
        draws."""
        self._pending_popularity = defaultdict(list)
        signature_of = {i: sig for sig, members in self._groups.items() for i in members}
        groups = [(f, len(t.structure)) for f, t in zip(self._template_formula, self.templates)]
        for drawn in popularity_draws(groups, sample, seed):
            self._pending_popularity[signature_of[drawn[0]]].append(drawn)

    def _match_popularity(self, sig: tuple[int, ...]) -> None:
        for drawn in self._pending_popularity.pop(sig, []):
            self._popularity[drawn] = drawn_popularity(
                [self.templates[i].structure for i in drawn])

    def popularities(self) -> np.ndarray:
        """Every template's popularity (matching every group not yet matched)."""
        for sig in list(self._pending_popularity):
            self._match_popularity(sig)
        return self._popularity.copy()

    def sample(self, n: int, condition: Condition | None = None,
               seed: int | None = None) -> list[Candidate]:
        """With condition {'formula': F}: n proposals for F. Without: n random templates, each
        with its elements swapped for a random chemically close element (de novo, cheap)."""
        seed = 0 if seed is None else int(seed)
        formula = (condition or {}).get("formula") or (condition or {}).get("composition")
        if formula is not None:
            structures = self.propose(str(formula), k=n, seed=seed)
            return [Candidate.from_structure(s, provenance={"generator": self.kind, "seed": seed,
                                                            "rank": i})
                    for i, s in enumerate(structures)]
        if not self.templates:
            raise MatforgeError("template CSP has no templates; fit it on a structure data set")
        rng = np.random.default_rng(seed)
        feats = element_features()
        out = []
        for i in range(n):
            t = self.templates[int(rng.integers(len(self.templates)))]
            new = []
            for el in t.elements:
                d = np.abs(feats - feats[_element_index(el)]) @ FEATURE_WEIGHTS
                d[[_element_index(e) for e in new]] = np.inf  # keep elements distinct
                near = np.argsort(d)[:4]
                new.append(ELEMENTS[int(rng.choice(near))])
            comp = Composition({e: t.structure.composition[Element(o)]
                                for o, e in zip(t.elements, new)})
            s = self.propose(comp, k=1, seed=seed + i)[0]
            out.append(Candidate.from_structure(s, provenance={"generator": self.kind,
                                                               "seed": seed, "index": i}))
        return out

    def save(self, path: str | Path) -> Path:
        path = write_config(path, self.kind, source=self.source, n_templates=len(self.templates))
        data = [{"cif": t.structure.to(fmt="cif"), "source": t.source, "popularity": float(p)}
                for t, p in zip(self.templates, self.popularities())]
        with gzip.open(path / TEMPLATES_FILE, "wt") as fh:
            json.dump(data, fh)
        return path

    @classmethod
    def load(cls, path: str | Path) -> TemplateCSP:
        cfg = read_config(path)
        file = Path(path) / TEMPLATES_FILE
        if cfg.get("source") == "aflow-prototypes" and not file.exists():
            return cls.from_aflow_prototypes()
        if not file.exists():
            raise MatforgeError(f"{path}: template model without {TEMPLATES_FILE}")
        with gzip.open(file, "rt") as fh:
            data = json.load(fh)
        model = cls.from_structures([d["cif"] for d in data], source=cfg.get("source", "dataset"))
        if len(model.templates) == len(data):  # older files carry no popularity
            for t, d in zip(model.templates, data):
                t.popularity = float(d.get("popularity", 0.0))
            model._set_templates(model.templates)
        return model


def popularity_draws(groups: Sequence[tuple[str, int]], sample: int = 40, seed: int = 0
                     ) -> list[np.ndarray]:
    """Per group of at least 3 structures with the same (reduced formula, atom count) in
    `groups`, one pair per structure, up to `sample` of its indices drawn at random (seeded)."""
    members: dict[tuple[str, int], list[int]] = defaultdict(list)
    for i, key in enumerate(groups):
        members[key].append(i)
    rng = np.random.default_rng(seed)
    return [rng.permutation(idx)[:sample] for idx in members.values() if len(idx) >= 3]


def drawn_popularity(drawn: Sequence[Structure]) -> np.ndarray:
    """Per structure, the share of the others it matches."""
    rms = pairwise_rms(drawn)
    return ((~np.isnan(rms)).sum(axis=1) - 1) / (len(drawn) - 1)


def pairwise_rms(structures: Sequence[Structure]) -> np.ndarray:
    """(m, m) normalised RMS distance between proposals under the CSP matcher (nan: no match,
    0 on the diagonal)."""
    from pymatgen.analysis.structure_matcher import StructureMatcher

    matcher = StructureMatcher(stol=0.5, angle_tol=10, ltol=0.3)
    m = len(structures)
    rms = np.full((m, m), np.nan)
    np.fill_diagonal(rms, 0.0)
    for i, j in itertools.combinations(range(m), 2):
        try:
            res = matcher.get_rms_dist(structures[i], structures[j])
        except Exception:  # noqa: BLE001 - an odd cell just casts no vote
            res = None
        if res is not None:
            rms[i, j] = rms[j, i] = float(res[0])
    return rms


def consensus_order(rms: np.ndarray, rank_power: float = VOTE_RANK_POWER) -> np.ndarray:
    """Order of m proposals (nearest template first): the best-supported structure family
    first, led by its member from the chemically nearest template.

    Support of proposal i = sum of rank weights 1/(1+r)^rank_power over the proposals that
    match it (itself included). The family is everything matching the best-supported
    proposal; its lowest-rank member goes first (it keeps the nearest template's
    distortions, hence a lower RMSE than the family's most generic member), the rest
    follow by support, then rank. With rank_power=0 this is a plain majority of the m
    nearest templates, so no single template decides alone."""
    m = len(rms)
    weights = 1.0 / (1.0 + np.arange(m)) ** rank_power
    match = ~np.isnan(rms)
    support = match.astype(float) @ weights
    order = [int(i) for i in np.lexsort((np.arange(m), -support))]
    lead = int(np.flatnonzero(match[order[0]]).min())
    return np.array([lead] + [i for i in order if i != lead])


def _vote(structures: list[Structure], m: int) -> list[Structure]:
    """Reorder the first `m` proposals by `consensus_order`."""
    head = structures[:m]
    order = consensus_order(pairwise_rms(head))
    return [head[i] for i in order] + structures[m:]


def _block_permutations(sig: tuple[int, ...], m: int) -> list[tuple[int, ...]]:
    """Assignments of target elements to template slots that keep amounts equal: elements
    may only swap within a block of equal amounts."""
    blocks: list[list[int]] = []
    for i, a in enumerate(sig):
        if blocks and sig[blocks[-1][0]] == a:
            blocks[-1].append(i)
        else:
            blocks.append([i])
    perms: list[tuple[int, ...]] = []
    for combo in itertools.product(*(itertools.permutations(b) for b in blocks)):
        perms.append(tuple(i for block in combo for i in block))
        if len(perms) >= MAX_PERMUTATIONS:
            break
    return perms


def _cell_size(template_atoms: int, n_target: int) -> int:
    """Atoms of the substituted cell: the template's, or a supercell up to the target's."""
    if n_target > template_atoms and n_target % template_atoms == 0:
        return n_target
    return template_atoms


def _prototype_key(template: _Template) -> tuple:
    """(space group, sorted (slot, Wyckoff letter) pairs, atoms per cell); a cell spglib
    cannot analyse is its own type."""
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    s = template.structure
    slot = {el: i for i, el in enumerate(template.elements)}
    try:
        data = SpacegroupAnalyzer(s, symprec=0.1).get_symmetry_dataset()
        sites = sorted(zip((slot[site.specie.symbol] for site in s), data.wyckoffs))
        return (int(data.number), tuple(sites), len(s))
    except Exception:  # noqa: BLE001 - spglib fails on rare degenerate cells
        return ("unanalysed", id(template))


def _fingerprint(s: Structure) -> tuple:
    """Cheap identity of a proposal: species order, normalised lattice and coordinates."""
    lat = s.lattice
    scale = s.volume ** (1 / 3)
    return (tuple(site.specie.symbol for site in s),
            tuple(np.round(np.array(lat.abc) / scale, 2)),
            tuple(np.round(lat.angles, 0)),
            tuple(np.round(s.frac_coords % 1.0, 2).ravel()))


def min_distance(s: Structure) -> float:
    """Smallest interatomic distance in the periodic structure (inf for one atom)."""
    if len(s) == 1:
        a, b, c = s.lattice.abc
        return float(min(a, b, c))
    dm = s.distance_matrix + np.diag(np.full(len(s), np.inf))
    self_images = min(s.lattice.abc)
    return float(min(dm.min(), self_images))


def _push_apart(s: Structure) -> Structure:
    """Expand the lattice until no two atoms are closer than MIN_DISTANCE."""
    d = min_distance(s)
    if d < MIN_DISTANCE:
        s.scale_lattice(s.volume * (MIN_DISTANCE / max(d, 1e-3) * 1.01) ** 3)
    return s

