"""matforge: inverse design of inorganic crystalline materials.

The verbs a notebook needs are importable from here; each is documented where it lives:

- `stability(inputs, hull="auto")`: energy above the convex hull of any structures;
- `relax_structures(structures)`: batched relaxation with CHGNet or SevenNet;
- `check_composition(formula)`: SMACT charge neutrality and electronegativity balance;
- `known_compositions()`: every composition matforge knows (the novelty reference);
- `load_dataset(name)`: registered data sets, user files, Materials Project queries;
- `run_campaign(spec, out)` and `run_default_campaign(out)`: closed-loop design.
"""

from matforge.candidate import Candidate
from matforge.errors import MatforgeError

__all__ = ["Candidate", "MatforgeError", "__version__", "check_composition",
           "known_compositions", "load_dataset", "relax_structures", "run_campaign",
           "run_default_campaign", "stability"]
__version__ = "0.1.0"

_LAZY = {  # imported on first use: torch and the potentials load in seconds, not at import
    "check_composition": "matforge.chem",
    "known_compositions": "matforge.data.known",
    "load_dataset": "matforge.data",
    "relax_structures": "matforge.oracles.relax",
    "run_campaign": "matforge.design.campaign",
    "run_default_campaign": "matforge.design.presets",
    "stability": "matforge.oracles.stability",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'matforge' has no attribute {name!r}")
