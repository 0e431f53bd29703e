"""Readers for user files: a CSV with `formula` and/or `cif`, a folder of CIFs, an extxyz file.

Every reader returns a DataFrame with a `formula` column (and `cif` where structures exist)
and checks each row, so a bad row fails with one message naming the file and the row
(rows counted from 1, as a spreadsheet shows them below the header).
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import pandas as pd
from pymatgen.core import Composition, Element, Structure

from matforge.errors import DataError


def read_csv_frame(path: str | Path, **kwargs) -> pd.DataFrame:
    """pandas.read_csv, except that formula strings are kept literally: the formula "NaN"
    (sodium nitride) and "NA" are compounds, not missing values."""
    frame = pd.read_csv(path, **kwargs)
    if "formula" in frame.columns:
        literal = pd.read_csv(path, usecols=["formula"], keep_default_na=False, dtype=str, **kwargs)
        frame["formula"] = literal["formula"].replace("", None)
    return frame


def parse_formula(formula: object, source: str | None = None, row: int | None = None) -> Composition:
    """Parse a formula into a Composition, rejecting unknown elements and empty formulas."""
    if not isinstance(formula, str) or not formula.strip():
        raise DataError("empty formula", source, row)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            comp = Composition(formula.strip())
    except Exception as exc:  # noqa: BLE001 - pymatgen raises several types here
        raise DataError(f"cannot parse formula {formula!r} ({exc})", source, row) from None
    if comp.num_atoms <= 0:
        raise DataError(f"formula {formula!r} has no atoms", source, row)
    for el in comp.elements:
        if not isinstance(el, Element) or not Element.is_valid_symbol(str(el)):
            raise DataError(f"unknown element {str(el)!r} in {formula!r}", source, row)
    return comp


def parse_cif(text: object, source: str | None = None, row: int | None = None) -> Structure:
    if not isinstance(text, str) or not text.strip():
        raise DataError("empty CIF", source, row)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            structure = Structure.from_str(text, fmt="cif")
    except Exception as exc:  # noqa: BLE001 - parsers raise many types
        raise DataError(f"malformed CIF ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})",
                        source, row) from None
    if len(structure) == 0:
        raise DataError("CIF has no atoms", source, row)
    return structure


def check_numeric(frame: pd.DataFrame, columns: list[str], source: str) -> None:
    """Fail on the first NaN or non-numeric value in the named property columns."""
    for col in columns:
        if col not in frame.columns:
            raise DataError(f"missing column {col!r} (columns: {', '.join(map(str, frame.columns))})",
                            source)
        values = pd.to_numeric(frame[col], errors="coerce")
        bad = values.isna().to_numpy().nonzero()[0]
        if len(bad):
            i = int(bad[0])
            raise DataError(f"column {col!r} is not a number ({frame[col].iloc[i]!r})", source, i + 1)


def read_csv(path: str | Path, require: list[str] | None = None,
             numeric: list[str] | None = None) -> pd.DataFrame:
    """Read a user CSV that has a `formula` and/or a `cif` column, checking every row."""
    path = Path(path)
    source = str(path)
    if not path.exists():
        raise DataError("file not found", source)
    if path.stat().st_size == 0:
        raise DataError("file is empty", source)
    try:
        frame = read_csv_frame(path)
    except pd.errors.EmptyDataError:
        raise DataError("file is empty", source) from None
    except Exception as exc:  # noqa: BLE001 - parsers raise many types
        raise DataError(f"not a readable CSV ({exc})", source) from None
    if frame.empty:
        raise DataError("file has a header but no rows", source)
    for col in require or []:
        if col not in frame.columns:
            raise DataError(f"missing column {col!r}", source)
    if "formula" not in frame.columns and "cif" not in frame.columns:
        raise DataError("needs a 'formula' or a 'cif' column "
                        f"(found: {', '.join(map(str, frame.columns))})", source)
    formulas = []
    for i, record in enumerate(frame.to_dict(orient="records"), start=1):
        cif = record.get("cif")
        has_cif = isinstance(cif, str) and cif.strip()
        if has_cif:
            comp = parse_cif(cif, source, i).composition
        elif "formula" in record and not _isnan(record["formula"]):
            comp = parse_formula(record["formula"], source, i)
        else:
            raise DataError("row has neither a formula nor a CIF", source, i)
        formulas.append(comp.reduced_formula if has_cif or "formula" not in frame.columns
                        else str(record["formula"]).strip())
    frame["formula"] = formulas
    if numeric:
        check_numeric(frame, numeric, source)
    return frame


def read_cif_folder(folder: str | Path) -> pd.DataFrame:
    folder = Path(folder)
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".cif")
    if not files:
        raise DataError("no .cif files in folder", str(folder))
    rows = []
    for path in files:
        structure = parse_cif(path.read_text(errors="replace"), str(path))
        rows.append({"material_id": path.stem, "formula": structure.composition.reduced_formula,
                     "cif": structure.to(fmt="cif")})
    return pd.DataFrame(rows)


def read_extxyz(path: str | Path) -> pd.DataFrame:
    from ase.io import read as ase_read
    from pymatgen.io.ase import AseAtomsAdaptor

    path = Path(path)
    if not path.exists():
        raise DataError("file not found", str(path))
    try:
        frames = ase_read(str(path), index=":", format="extxyz")
    except Exception as exc:  # noqa: BLE001 - parsers raise many types
        raise DataError(f"not a readable extxyz file ({exc})", str(path)) from None
    rows = []
    for i, atoms in enumerate(frames, start=1):
        if not atoms.pbc.all():
            raise DataError("structure is not periodic in all three directions", str(path), i)
        structure = AseAtomsAdaptor.get_structure(atoms)
        row = {"formula": structure.composition.reduced_formula, "cif": structure.to(fmt="cif")}
        # ASE moves energy/stress read from extxyz into a calculator; keep scalars from both
        extra = dict(atoms.info)
        if atoms.calc is not None:
            extra.update(getattr(atoms.calc, "results", {}))
        for key, value in extra.items():
            if isinstance(value, (int, float, str)) and not isinstance(value, bool):
                row[key] = value
        rows.append(row)
    if not rows:
        raise DataError("file holds no structures", str(path))
    return pd.DataFrame(rows)


def read_path(path: str | Path) -> pd.DataFrame:
    """Read any supported user input by its type."""
    path = Path(path)
    if path.is_dir():
        return read_cif_folder(path)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return read_csv(path)
    if suffix in {".xyz", ".extxyz"}:
        return read_extxyz(path)
    if suffix == ".cif":
        structure = parse_cif(path.read_text(errors="replace"), str(path))
        return pd.DataFrame([{"material_id": path.stem, "formula": structure.composition.reduced_formula,
                              "cif": structure.to(fmt="cif")}])
    if not path.exists():
        raise DataError("file not found", str(path))
    raise DataError("unsupported file type (use .csv, .cif, .extxyz or a folder of CIFs)", str(path))


def _isnan(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))
