"""matforge: inverse design of inorganic crystalline materials.

The verbs and types a notebook needs are importable from here (docs/python_api.md has a
runnable example of each); each is documented where it lives:

- data: `load_dataset(name, split)`, `list_datasets()`, `dataset_info(name)`,
  `known_compositions()` (the novelty reference);
- chemistry: `check_composition(formula)`, `check_compositions(formulas)` (SMACT charge
  neutrality and electronegativity balance, with the reason) -> `ChemVerdict`;
- generation: `load_generator(name_or_dir)` (shipped `composition-default`, `template`, ...)
  -> a `Generator` with `sample(n, seed=...)` -> `Candidate`s; `read_candidates`,
  `write_candidates`, `candidates_to_frame`;
- structures: `predict_structures(compositions)` (any composition: a structure search scored
  by CHGNet, `StructureSearch`), `TemplateCSP`, `RandomSymmetricCSP` and any CSP model's
  `propose(composition, k, seed)`; `attach_structures(candidates, csp)`,
  `generate_structures(composition_model, csp, n)`;
- relaxation: `relax_structures(structures)`, `relax_structure(structure)` -> `RelaxResult`;
- stability: `stability(inputs, hull="auto")` (a table), `assess_stability(structures)`
  -> `StabilityResult`;
- properties: `EnsembleSurrogate`, `train_surrogate(data, target, out)`,
  `load_surrogate(dir)`, `predict_frame(dir, frame)`: `predict(X) -> (mean, std)` with a
  calibrated std -> `CalibrationReport`, `calibration_report(y, mean, std)`;
- synthesizability: `score_synthesizability(inputs)` (0-1, the shipped PU model; structures
  with `model="synthesizability-structure"`),
  `synthesizability_frame(frame)`, `train_synthesizability(out)`;
- explanations: `explain(model_dir, frame)` -> feature and group `Attributions` (exact
  TreeSHAP for tree ensembles, exact Shapley over elements otherwise);
- evaluation: `evaluate(samples, reference=..., test=...)` -> `EvaluationResult`;
- campaigns: `load_spec(path, **overrides)` -> `CampaignSpec`, `run_campaign(spec, out)`,
  `run_default_campaign(out)`.

`import matforge` is light: every name but the errors and `__version__` is imported on first
use (torch, pymatgen and the potentials take seconds to load).
"""

from __future__ import annotations

import importlib
from typing import Any

from matforge.errors import DataError, MatforgeError

__version__ = "0.1.0"

# public name -> the module that defines it; imported on first attribute access
_LAZY: dict[str, str] = {
    # candidates
    "Candidate": "matforge.candidate",
    "candidates_to_frame": "matforge.candidate",
    "read_candidates": "matforge.candidate",
    "write_candidates": "matforge.candidate",
    # data
    "DatasetSpec": "matforge.data.registry",
    "dataset_info": "matforge.data.registry",
    "list_datasets": "matforge.data.registry",
    "load_dataset": "matforge.data.registry",
    "known_compositions": "matforge.data.known",
    # chemistry
    "ChemVerdict": "matforge.chem.validity",
    "check_composition": "matforge.chem.validity",
    "check_compositions": "matforge.chem.validity",
    # generators and crystal structure prediction
    "Generator": "matforge.generators.base",
    "load_generator": "matforge.generators.base",
    "TemplateCSP": "matforge.generators.crystal.template",
    "RandomSymmetricCSP": "matforge.generators.crystal.random_symmetric",
    "StructureSearch": "matforge.generators.crystal.search",
    "predict_structures": "matforge.generators.crystal.search",
    "attach_structures": "matforge.generators.crystal.denovo",
    "generate_structures": "matforge.generators.crystal.denovo",
    # relaxation and stability
    "RelaxResult": "matforge.oracles.relax",
    "relax_structure": "matforge.oracles.relax",
    "relax_structures": "matforge.oracles.relax",
    "StabilityResult": "matforge.oracles.stability",
    "assess_stability": "matforge.oracles.stability",
    "stability": "matforge.oracles.stability",
    # property surrogates
    "Surrogate": "matforge.surrogates.base",
    "load_surrogate": "matforge.surrogates.base",
    "EnsembleSurrogate": "matforge.surrogates.ensemble",
    "CalibrationReport": "matforge.surrogates.calibration",
    "calibration_report": "matforge.surrogates.calibration",
    "train_surrogate": "matforge.surrogates.train",
    "predict_frame": "matforge.surrogates.predict",
    # synthesizability and explanations
    "score_synthesizability": "matforge.synthesizability",
    "synthesizability_frame": "matforge.synthesizability",
    "train_synthesizability": "matforge.synthesizability.train",
    "Attributions": "matforge.attributions",
    "explain": "matforge.attributions",
    # evaluation
    "EvaluationResult": "matforge.metrics.suite",
    "evaluate": "matforge.metrics.suite",
    # campaigns
    "CampaignSpec": "matforge.design.spec",
    "load_spec": "matforge.design.spec",
    "run_campaign": "matforge.design.campaign",
    "run_default_campaign": "matforge.design.presets",
}

# every name: the errors, the version, and the lazily imported ones (`_LAZY`)
__all__ = [
    "Attributions", "CalibrationReport", "CampaignSpec", "Candidate", "ChemVerdict", "DataError",
    "DatasetSpec", "EnsembleSurrogate", "EvaluationResult", "Generator", "MatforgeError",
    "RandomSymmetricCSP", "RelaxResult", "StabilityResult", "StructureSearch", "Surrogate",
    "TemplateCSP",
    "__version__", "assess_stability", "attach_structures", "calibration_report",
    "candidates_to_frame", "check_composition", "check_compositions", "dataset_info",
    "evaluate", "explain", "generate_structures", "known_compositions", "list_datasets",
    "load_dataset", "load_generator", "load_spec", "load_surrogate", "predict_frame",
    "predict_structures",
    "read_candidates", "relax_structure", "relax_structures", "run_campaign",
    "run_default_campaign", "score_synthesizability", "stability", "synthesizability_frame",
    "train_surrogate", "train_synthesizability", "write_candidates",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'matforge' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this hook
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
