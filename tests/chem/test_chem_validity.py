import pytest
from smact.screening import smact_validity

from matforge.chem import check_composition
from matforge.data import load_dataset


@pytest.mark.parametrize("formula, neutral, balanced, category", [
    ("NaCl", True, True, "compound"),
    ("Fe2O3", True, True, "compound"),
    ("NaCl2", False, False, "compound"),
    ("CuZn", False, False, "alloy"),
    ("Fe", True, True, "element"),
    ("LiFePO4", True, True, "compound"),
])
def test_known_verdicts(formula, neutral, balanced, category):
    v = check_composition(formula)
    assert (v.charge_neutral, v.electronegativity_balanced, v.category) == (neutral, balanced, category)
    assert v.reason


def test_alloys_are_their_own_category():
    v = check_composition("CuZn")
    assert v.valid and not v.valid_strict and "alloy" in v.reason


def test_charged_composition_reason_is_readable():
    assert "balances the charge" in check_composition("NaCl2").reason


def test_agrees_with_smact_validity_on_real_compositions():
    formulas = load_dataset("mp-transport")["formula"].iloc[:1500]
    ours = [check_composition(f).valid for f in formulas]
    theirs = [smact_validity(f, oxidation_states_set="smact14") for f in formulas]
    assert ours == theirs
