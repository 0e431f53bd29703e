"""De novo crystals as "composition generator + CSP": the issue-5 chain.

A composition generator (transformer, VAE, GAN, ...) proposes formulas and a CSP model
(template, diffusion) gives each one a structure. This keeps the two halves swappable: a
better composition model or a better CSP model improves de novo generation without
retraining the other. Compositions the CSP model cannot place (no template with that
anonymized formula, fractional amounts) are skipped and counted, not fatal.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from matforge.candidate import Candidate
from matforge.errors import MatforgeError


def attach_structures(candidates: Sequence[Candidate], csp: Any, seed: int = 0
                      ) -> tuple[list[Candidate], list[str]]:
    """Each candidate's composition through `csp.propose(comp, k=1)`.

    Returns the candidates that got a structure (composition, provenance and scores kept,
    plus `csp` and `csp_template` provenance) and the formulas that got none."""
    if not hasattr(csp, "propose"):
        raise MatforgeError(f"{getattr(csp, 'kind', type(csp).__name__)} does not predict "
                            "structures; use a CSP model (template, perov-5, carbon-24, ...)")
    out: list[Candidate] = []
    skipped: list[str] = []
    for i, cand in enumerate(candidates):
        try:
            structures = csp.propose(cand.composition, k=1, seed=seed + i)
        except MatforgeError:
            structures = []
        if not structures:
            skipped.append(cand.formula)
            continue
        s = structures[0]
        provenance = dict(cand.provenance) | {"csp": getattr(csp, "kind", "csp")}
        template = (s.properties or {}).get("template_formula")
        if template:
            provenance["csp_template"] = template
        out.append(Candidate(composition=s.composition, structure=s, provenance=provenance,
                             scores=dict(cand.scores)))
    return out, skipped


def generate_structures(composition_model: Any, csp: Any, n: int, seed: int = 0,
                        max_rounds: int = 10, **sample_options: Any
                        ) -> tuple[list[Candidate], int]:
    """Up to `n` structures: sample compositions, place them, and sample again (new seed)
    for the ones that could not be placed, at most `max_rounds` rounds.

    Returns the structures and how many sampled compositions were skipped."""
    if n <= 0:
        raise MatforgeError("n must be positive")
    out: list[Candidate] = []
    n_skipped = 0
    for r in range(max_rounds):
        comps = composition_model.sample(n - len(out), seed=seed + 7919 * r, **sample_options)
        placed, skipped = attach_structures(comps, csp, seed=seed + len(out))
        out += placed
        n_skipped += len(skipped)
        if len(out) >= n:
            break
    return out[:n], n_skipped
