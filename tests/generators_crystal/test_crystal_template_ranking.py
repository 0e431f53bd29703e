"""Ranking of template CSP proposals: the consensus vote, polymorph popularity (Carbon-24),
and the de novo chain composition generator -> template CSP."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pymatgen.core import Composition, Structure
from typer.testing import CliRunner

from matforge.candidate import Candidate, read_candidates
from matforge.generators.crystal.denovo import attach_structures, generate_structures
from matforge.generators.crystal.template import TemplateCSP, consensus_order
from matforge.metrics.csp import rms_dist

NAN = np.nan


def test_majority_family_beats_the_nearest_template() -> None:
    # Proposal 0 (nearest template) stands alone; 1, 2 and 3 match each other (2 and 3 also
    # match 4). The majority family {1, 2, 3} goes first, led by its nearest member, 1.
    rms = np.array([[0, NAN, NAN, NAN, NAN],
                    [NAN, 0, .1, .2, NAN],
                    [NAN, .1, 0, .1, .1],
                    [NAN, .2, .1, 0, .1],
                    [NAN, NAN, .1, .1, 0]])
    order = consensus_order(rms, rank_power=0.0)
    assert order[0] == 1
    assert sorted(order.tolist()) == [0, 1, 2, 3, 4]
    assert order[-1] == 0  # the lone proposal has the least support
    # Steep rank weights hand the decision back to the nearest template.
    assert consensus_order(rms, rank_power=3.0)[0] == 0


def _six_atom_cells(frame: pd.DataFrame) -> list[Structure]:
    cells = [Structure.from_str(c, fmt="cif") for c in frame["cif"]]
    return [s for s in cells if len(s) == 6]


@pytest.fixture(scope="module")
def carbon_six(full_dataset) -> list[Structure]:
    """60 six-atom cells from 200 random rows of the full Carbon-24 val split: the popularity
    figures below were measured on these."""
    val = full_dataset("carbon-24", split="val").sample(frac=1.0, random_state=0).head(200)
    return _six_atom_cells(val)[:60]


def test_popularity_puts_the_recurring_carbon_polymorph_first(carbon_six) -> None:
    templates, held_out = carbon_six[:30], carbon_six[30:]
    csp = TemplateCSP.from_structures(templates)
    csp.use_popularity(sample=30)
    pop = csp.popularities()
    assert pop.shape == (30,) and 0 <= pop.min() and pop.max() <= 1 and pop.max() > 0
    first = csp.propose("C6", k=1, seed=0)[0]
    assert first.properties["template_index"] in set(np.flatnonzero(pop == pop.max()))
    # Popularity among the templates predicts how many held-out 6-atom cells a template
    # reproduces (Spearman 0.48-0.85 over three seeded draws), so the popular ones beat a
    # typical template.
    from scipy.stats import spearmanr

    hits = np.array([sum(rms_dist(s, t) is not None for t in held_out) for s in templates])
    assert spearmanr(pop, hits)[0] > 0.3
    top = np.argsort(-pop, kind="stable")[:5]
    assert hits[top].mean() > hits.mean()


def test_popularity_survives_save_and_load(fixture_data, tmp_path: Path) -> None:
    six = _six_atom_cells(fixture_data.load("carbon-24", split="val"))  # tests/data/fixtures
    assert len(six) >= 12
    frame = pd.DataFrame({"cif": [s.to(fmt="cif") for s in six[:12]]})
    csp = TemplateCSP().fit(frame, popularity_sample=12)
    loaded = TemplateCSP.load(csp.save(tmp_path / "tpl"))
    assert [t.popularity for t in loaded.templates] == csp.popularities().tolist()
    assert any(t.popularity > 0 for t in loaded.templates)


def test_popularity_is_matched_lazily_with_the_draws_of_all_at_once(fixture_data) -> None:
    from matforge.generators.crystal.library import aflow_library

    six = _six_atom_cells(fixture_data.load("carbon-24", split="val"))[:12]
    csp = TemplateCSP.from_structures(six)
    csp.use_popularity(sample=12)
    assert not csp._popularity.any()  # nothing matched before a query reaches carbon
    csp.propose("C6", k=1)
    assert csp._popularity.any()
    at_once = TemplateCSP.from_structures(six)
    at_once.use_popularity(sample=12)
    assert csp.popularities().tolist() == at_once.popularities().tolist()
    # a structure library's templates weigh polymorphs the same way in a vote; their
    # substitutions rank by chemistry alone, as templates without popularity do
    library = aflow_library().extended({"carbon": six})
    assert library.templates.popularities().any()
    plain = TemplateCSP(library.templates.templates, consensus=1)
    assert not plain.popularities().any()
    ranked = [library.templates.substitutions("C6", 6, seed=s) for s in range(3)]
    assert ranked == [plain.substitutions("C6", 6, seed=s) for s in range(3)]
    voted = [library.templates.propose("C6", k=1, seed=s, consensus=6)[0] for s in range(3)]
    unweighted = [library.templates.propose("C6", k=1, seed=s, consensus=6, popularity=False)[0]
                  for s in range(3)]
    assert voted != unweighted


class _FixedCompositions:
    """A stand-in composition generator: cycles through fixed formulas, one unplaceable."""

    kind = "fixed"

    def __init__(self, formulas: list[str]):
        self.formulas = formulas

    def sample(self, n, condition=None, seed=None):
        start = int(seed or 0)
        return [Candidate(Composition(self.formulas[(start + i) % len(self.formulas)]),
                          provenance={"generator": self.kind})
                for i in range(n)]


def test_denovo_chain_places_compositions_and_resamples_the_rest() -> None:
    csp = TemplateCSP.from_aflow_prototypes()
    gen = _FixedCompositions(["SrTiO3", "LiFePO4", "NaCl"])
    placed, skipped = attach_structures(gen.sample(3, seed=0), csp)
    assert skipped == ["LiFePO4"]  # no ABCD4 prototype
    assert [c.formula for c in placed] == ["SrTiO3", "NaCl"]
    assert all(c.structure is not None and c.provenance["csp"] == "crystal-template"
               and c.provenance["generator"] == "fixed" for c in placed)
    out, n_skipped = generate_structures(gen, csp, 4, seed=0)
    assert len(out) == 4 and n_skipped >= 1
    assert all(c.structure.composition.reduced_formula == c.formula for c in out)


def test_generate_cli_chains_composition_model_and_template_csp(tmp_path: Path) -> None:
    from matforge.cli import app

    out = tmp_path / "denovo.csv"
    res = CliRunner().invoke(app, ["generate", "--model", "composition-default", "-n", "3",
                                   "--csp", "template", "--seed", "0", "--out", str(out)])
    assert res.exit_code == 0, res.output
    cands = read_candidates(out)
    assert len(cands) == 3
    for c in cands:
        assert c.structure is not None
        assert c.structure.composition.reduced_formula == c.formula
