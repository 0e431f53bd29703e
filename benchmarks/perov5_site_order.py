"""Why 1-sample CSP on Perov-5 stalls near 50%: the A/B site order is not in the composition.

Perov-5 enumerates every ordered cation pair (A, B) of 52 metals with 7 anion sets
(52 x 52 x 7 = 18,928 cells), so most reduced formulas exist twice, once per site order,
and the two orders are different structures under the CSP matcher. This script measures
the three facts on val.csv only (nothing from test.csv):

1. how often a reduced formula occurs in val, and that a formula never occurs more than twice;
2. the share of val cells that still match themselves after swapping the two cations;
3. the grouped 5-fold cross-validated accuracy of classifiers that predict which cation
   sits on the A site from element features (chance is 50%).

    MATFORGE_DATA_DIR=../shared/data python benchmarks/perov5_site_order.py
"""

from __future__ import annotations

import sys
import warnings
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import write_results

ANIONS = {"O", "N", "F", "S"}


def _a_site(structure) -> str | None:
    """The cation with the longest nearest-neighbour distance (12-fold A site)."""
    dm = structure.distance_matrix + np.eye(len(structure)) * 1e3
    cations = {}
    for i, site in enumerate(structure):
        if site.specie.symbol not in ANIONS:
            cations[site.specie.symbol] = max(cations.get(site.specie.symbol, 0), dm[i].min())
    return max(cations, key=cations.get) if len(cations) == 2 else None


def _features(symbol: str) -> list[float]:
    from pymatgen.core import Element

    el = Element(symbol)
    radius = float(el.average_ionic_radius or 0.0) or float(el.atomic_radius or 1.5)
    return [el.X or 0.0, radius, el.row, el.group, el.Z]


def run(n_swap: int = 150, seed: int = 0) -> dict:
    from pymatgen.analysis.structure_matcher import StructureMatcher
    from pymatgen.core import Composition, Element, Structure
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold, cross_val_score

    from matforge.data import load_dataset

    val = load_dataset("perov-5", split="val")
    reduced = [Composition(f).reduced_formula for f in val["formula"]]
    counts = Counter(reduced)
    matcher = StructureMatcher(stol=0.5, angle_tol=10, ltol=0.3)
    rng = np.random.default_rng(seed)
    swapped_matches, checked = 0, 0
    for i in rng.choice(len(val), n_swap, replace=False):
        s = Structure.from_str(val["cif"].iloc[i], fmt="cif")
        cations = [el for el in s.composition.elements if el.symbol not in ANIONS]
        if len(cations) != 2:
            continue
        swapped = s.copy()
        swapped.replace_species({cations[0]: cations[1], cations[1]: cations[0]})
        checked += 1
        swapped_matches += bool(matcher.fit(s, swapped))
    x, y, groups = [], [], []
    for cif, formula in zip(val["cif"], reduced):
        s = Structure.from_str(cif, fmt="cif")
        a = _a_site(s)
        if a is None:
            continue
        comp = s.composition
        c1, c2 = sorted(el.symbol for el in comp.elements if el.symbol not in ANIONS)
        anions = [comp.get(Element(e), 0.0) for e in sorted(ANIONS)]
        x.append(_features(c1) + _features(c2) + anions)
        y.append(int(a == c1))
        groups.append(formula)
    x, y = np.array(x), np.array(y)
    cv = GroupKFold(5)
    accuracy = {type(m).__name__: float(cross_val_score(m, x, y, cv=cv, groups=groups).mean())
                for m in (LogisticRegression(max_iter=2000), GradientBoostingClassifier())}
    return {"val_cells": len(val), "distinct_reduced_formulas": len(counts),
            "formulas_twice": sum(v == 2 for v in counts.values()),
            "max_per_formula": max(counts.values()),
            "swap_checked": checked, "swap_still_matches": swapped_matches,
            "site_cells": len(y), "share_first_alphabetical_on_A": float(y.mean()),
            "a_site_cv_accuracy": accuracy}


def markdown(r: dict) -> str:
    acc = ", ".join(f"{k} {100 * v:.1f}%" for k, v in r["a_site_cv_accuracy"].items())
    return "\n".join([
        "## Perov-5: is the A/B site order predictable from the composition? (val.csv only)",
        "",
        (f"- {r['val_cells']} val cells, {r['distinct_reduced_formulas']} reduced formulas; "
        f"{r['formulas_twice']} occur twice (both site orders), none more than "
        f"{r['max_per_formula']} times."),
        (f"- Swapping the two cations gives a structure the CSP matcher accepts in "
        f"{r['swap_still_matches']} of {r['swap_checked']} cells: the site order decides "
        "the match."),
        (f"- Predicting which cation is on the A site from element features, 5-fold CV "
        f"grouped by formula over {r['site_cells']} cells: {acc} (chance 50%)."),
        "",
        ("So a method that sees only the composition matches about half of the A != B targets "
        "at 1 sample, whatever it learns; DiffCSP's published 52.02% sits at that ceiling."),
    ])


def main() -> None:
    warnings.filterwarnings("ignore")
    payload = run()
    write_results("perov5_site_order", payload, markdown(payload))
    print(markdown(payload))


if __name__ == "__main__":
    main()
