"""The Materials Project conversion, on a response recorded in the shape mp-api returns."""

import pytest
from pymatgen.core import Lattice, Structure

from matforge.data import load_dataset
from matforge.data.materials_project import summary_docs_to_frame
from matforge.errors import DataError


class _Doc:
    """Stands in for mp-api's pydantic document: only model_dump() is used."""

    def __init__(self, payload):
        self._payload = payload

    def model_dump(self):
        return self._payload


def _recorded_response():
    si = Structure(Lattice.cubic(5.43), ["Si"] * 2, [[0, 0, 0], [0.25, 0.25, 0.25]])
    return [
        _Doc({"material_id": "mp-149", "formula_pretty": "Si", "structure": si.as_dict(),
              "formation_energy_per_atom": 0.0, "energy_above_hull": 0.0, "band_gap": 0.61,
              "density": 2.33, "nsites": 2, "is_stable": True}),
        {"material_id": "mp-x", "formula_pretty": "Fe2O3", "structure": None, "band_gap": 2.0},
    ]


def test_summary_docs_convert_to_frame():
    frame = summary_docs_to_frame(_recorded_response())
    assert frame["formula"].tolist() == ["Si", "Fe2O3"]
    assert frame.loc[0, "band_gap"] == pytest.approx(0.61)
    assert Structure.from_str(frame.loc[0, "cif"], fmt="cif").composition.reduced_formula == "Si"
    assert frame.loc[1, "cif"] is None


def test_query_without_key_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("MP_API_KEY", raising=False)
    with pytest.raises(DataError, match="MP_API_KEY"):
        load_dataset("mp:Li-Fe-O")
