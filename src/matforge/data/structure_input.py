"""Structures a user hands in, row by row: a CSV with `cif`, a CIF folder, a .cif or extxyz.

Each row keeps its other columns (so `material_id` and friends pass through to the output)
and gets `_structure`, or None with an `error` saying why: an unreadable CIF, or a structure
that makes no physical sense (`chem.geometry`). A bad row is reported in the output, never
the end of the run; when the input is a single structure there is nothing else to do, so
`require_usable_single` turns its problem into one clear error.
"""

from __future__ import annotations

from pathlib import Path

from matforge.chem.geometry import DEFAULT_LIMITS, StructureLimits, structure_problem
from matforge.errors import DataError, MatforgeError


def read_structure_rows(path: str | Path, limits: StructureLimits = DEFAULT_LIMITS) -> list[dict]:
    """Rows of INPUT, each with `_structure` (or None and an `error`)."""
    from pymatgen.core import Structure

    from matforge.data.readers import read_csv_frame, read_path

    path = Path(path)
    if not path.exists():
        raise DataError("file not found", str(path))
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() == ".cif")
        if not files:
            raise DataError("no .cif files in folder", str(path))
        rows = [{"material_id": p.stem, "cif": p.read_text(errors="replace")} for p in files]
    elif path.suffix.lower() == ".csv":
        frame = read_csv_frame(path)
        if "cif" not in frame.columns:
            raise DataError("needs a 'cif' column (structures)", str(path))
        rows = frame.to_dict(orient="records")
    else:
        rows = read_path(path).to_dict(orient="records")
    for row in rows:
        cif = row.get("cif")
        try:
            if not isinstance(cif, str) or not cif.strip():
                raise ValueError("empty cif")
            row["_structure"] = Structure.from_str(cif, fmt="cif")
        except Exception as exc:  # noqa: BLE001 - reported per row
            row["_structure"] = None
            row["error"] = f"unreadable CIF: {' '.join(str(exc).split())[:200]}"
            continue
        problem = structure_problem(row["_structure"], limits)
        if problem:
            row["_structure"] = None
            row["error"] = f"unphysical structure: {problem}"
    return rows


def require_usable_single(rows: list[dict], path: str | Path) -> None:
    """A one-structure input whose structure cannot be used ends in one clear error."""
    if len(rows) == 1 and rows[0]["_structure"] is None:
        raise MatforgeError(f"{path}: {rows[0]['error']}")
