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


@pytest.mark.parametrize("oxidation_set, smact_kwargs", [
    ("icsd24-filtered", {}),  # SMACT 4's default: no set named
    ("smact14", {"oxidation_states_set": "smact14"}),
])
def test_agrees_with_smact_validity_on_real_compositions(oxidation_set, smact_kwargs):
    """Every verdict equals SMACT's own, so a change in SMACT's sets or rules fails here."""
    formulas = load_dataset("mp-transport")["formula"].iloc[:1500]
    ours = [check_composition(f, oxidation_set).valid for f in formulas]
    theirs = [smact_validity(f, **smact_kwargs) for f in formulas]
    assert ours == theirs
    # with alloys not waved through, SMACT checks them like any compound; matforge keeps
    # all-metal compositions as their own class, invalid when strict
    for f in formulas:
        v = check_composition(f, oxidation_set)
        smact_strict = smact_validity(f, include_alloys=False, **smact_kwargs)
        assert v.valid_strict == (smact_strict and v.category != "alloy"), f


def test_default_set_rejects_what_smact_default_rejects():
    """Hydrides and intermetallic-like formulas the 2014 list let through."""
    for formula in ("SrEuH3", "CeOsSe", "TiTcTe"):
        assert check_composition(formula, "smact14").valid_strict
        assert not check_composition(formula).valid_strict
        assert not smact_validity(formula, include_alloys=False)
