"""Chemistry rules: charge neutrality and electronegativity balance with readable reasons."""

from matforge.chem.validity import ChemVerdict, check_composition, check_compositions

__all__ = ["ChemVerdict", "check_composition", "check_compositions"]
