"""The Materials Project through `mp-api`, when `MP_API_KEY` is set.

`load_dataset("mp:Li-Fe-O")` fetches the summary documents of a chemical system (or
`mp:mp-149,mp-13` a list of material ids) and converts them into the common frame:
`material_id`, `formula`, `cif` and the numeric summary fields. The conversion
(`summary_docs_to_frame`) is separate from the network call so it is tested on a recorded
response without a network.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

import pandas as pd

from matforge.errors import DataError

SUMMARY_FIELDS = ("material_id", "formula_pretty", "structure", "formation_energy_per_atom",
                  "energy_above_hull", "band_gap", "density", "nsites", "is_stable")


def summary_docs_to_frame(docs: Iterable[Any]) -> pd.DataFrame:
    """Turn mp-api summary documents (objects or dicts) into a matforge data frame."""
    from pymatgen.core import Structure

    rows = []
    for i, doc in enumerate(docs, start=1):
        if hasattr(doc, "model_dump"):
            doc = doc.model_dump()
        elif not isinstance(doc, dict):
            doc = dict(doc)
        structure = doc.get("structure")
        if isinstance(structure, dict):
            structure = Structure.from_dict(structure)
        if structure is None and not doc.get("formula_pretty"):
            raise DataError("document has neither a structure nor a formula", "Materials Project", i)
        row = {"material_id": str(doc.get("material_id")),
               "formula": structure.composition.reduced_formula if structure is not None
               else doc["formula_pretty"],
               "cif": structure.to(fmt="cif") if structure is not None else None}
        for key in SUMMARY_FIELDS[3:]:
            if key in doc and doc[key] is not None:
                row[key] = float(doc[key]) if not isinstance(doc[key], bool) else bool(doc[key])
        rows.append(row)
    if not rows:
        raise DataError("the query returned no materials", "Materials Project")
    return pd.DataFrame(rows)


def fetch_materials_project(query: str, api_key: str | None = None) -> pd.DataFrame:
    """Fetch a chemical system ("Li-Fe-O") or comma-separated material ids ("mp-149,mp-13")."""
    api_key = api_key or os.environ.get("MP_API_KEY")
    if not api_key:
        raise DataError("set MP_API_KEY to query the Materials Project (https://materialsproject.org/api)")
    try:
        from mp_api.client import MPRester
    except ImportError:
        raise DataError("the Materials Project client is not installed: pip install mp-api") from None
    criteria: dict[str, Any] = {}
    if query.startswith("mp-") or "," in query:
        criteria["material_ids"] = [q.strip() for q in query.split(",") if q.strip()]
    else:
        criteria["chemsys"] = query
    try:
        with MPRester(api_key) as mpr:
            docs = mpr.materials.summary.search(fields=list(SUMMARY_FIELDS), **criteria)
    except Exception as exc:  # noqa: BLE001 - network and API errors all end as one line
        raise DataError(f"Materials Project query {query!r} failed: {exc}") from None
    return summary_docs_to_frame(docs)
