"""`matforge relax INPUT --out OUT.csv`: batched relaxation with CHGNet (or SevenNet)."""

from __future__ import annotations

from pathlib import Path

import typer


def read_structure_rows(path: str | Path) -> list[dict]:
    """Rows of INPUT with a `cif` (or an `error` for a row whose CIF cannot be parsed).

    A bad row is reported in the output instead of ending the run.
    """
    from pymatgen.core import Structure

    from matforge.data.readers import read_csv_frame, read_path
    from matforge.errors import DataError

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
            raise DataError("needs a 'cif' column to relax structures", str(path))
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
    return rows


def relax_file(input_path: str | Path, out: str | Path, model: str = "chgnet",
               fmax: float = 0.1, steps: int = 500, optimizer: str = "fire",
               relax_cell: bool = True, max_atoms: int = 64, workers: int | None = None,
               formation_energy: bool = True, phonons: dict | None = None) -> object:
    """Relax every structure of a file and write the CSV; returns the output frame.

    `phonons` (options for `oracles.phonons.phonon_check`, {} for the defaults) adds
    `min_phonon_freq_thz`, `dynamically_stable` and `phonon_error` for each relaxed structure.
    """
    import pandas as pd

    from matforge.oracles.relax import relax_structures

    rows = read_structure_rows(input_path)
    ok = [i for i, r in enumerate(rows) if r["_structure"] is not None]
    results = relax_structures([rows[i]["_structure"] for i in ok], fmax=fmax, steps=steps,
                               model=model, relax_cell=relax_cell, optimizer=optimizer,
                               max_atoms=max_atoms, workers=workers)
    refs = None
    if formation_energy:
        from matforge.oracles.references import ElementalReferences

        refs = ElementalReferences.default(model)
    out_rows = []
    by_index = dict(zip(ok, results))
    for i, row in enumerate(rows):
        res = by_index.get(i)
        base = {k: v for k, v in row.items() if k not in {"_structure", "cif", "error"}}
        record = {**base, "formula": None, "cif": row.get("cif"), "energy_per_atom": None,
                  "converged": False, "steps": 0, "fmax_final": None,
                  "initial_energy_per_atom": None, "error": row.get("error", "")}
        if res is not None:
            record["formula"] = row["_structure"].composition.reduced_formula
            if res.ok:
                record.update(cif=res.structure.to(fmt="cif"), energy_per_atom=res.energy_per_atom,
                              converged=res.converged, steps=res.steps, fmax_final=res.fmax,
                              initial_energy_per_atom=res.initial_energy_per_atom)
                if refs is not None:
                    record["formation_energy_per_atom"] = _formation(res, refs)
                if phonons is not None:
                    record.update(phonon_columns(res.structure, model, phonons))
            else:
                record["error"] = res.error
        if phonons is not None and "phonon_error" not in record:
            record.update(min_phonon_freq_thz=None, dynamically_stable=None,
                          phonon_error=record["error"] or "not relaxed")
        out_rows.append(record)
    frame = pd.DataFrame(out_rows)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(out, index=False)
    return frame


def phonon_columns(structure, model: str, options: dict) -> dict:
    """min_phonon_freq_thz, dynamically_stable, phonon_error for one structure (never raises
    for a structure that is too big or that the model cannot handle: the reason is recorded)."""
    from matforge.oracles.phonons import phonon_check

    try:
        res = phonon_check(structure, model=model, **options)
    except Exception as exc:  # noqa: BLE001 - reported per row
        return {"min_phonon_freq_thz": None, "dynamically_stable": None,
                "phonon_error": " ".join(str(exc).split())[:200]}
    return {"min_phonon_freq_thz": res.min_phonon_freq_thz,
            "dynamically_stable": res.dynamically_stable, "phonon_error": ""}


def _formation(res, refs) -> float | None:
    from matforge.oracles.stability import formation_energy_per_atom

    if not all(str(el) in refs for el in res.structure.composition.elements):
        return None  # computing new references is slow; the shipped table covers Z <= 94
    return formation_energy_per_atom(res.structure.composition, res.energy_per_atom, refs)


def register(app: typer.Typer, train_app: typer.Typer) -> None:
    @app.command("relax")
    def relax_cmd(
        input_path: Path = typer.Argument(
            ..., help="CSV with a 'cif' column, a CIF folder, a .cif or an .extxyz file"),
        out: Path = typer.Option(..., "--out", help="output CSV"),
        model: str = typer.Option("chgnet", help="chgnet or sevennet"),
        fmax: float = typer.Option(0.1, help="force criterion, eV/A (cell included)"),
        steps: int = typer.Option(500, help="maximum optimiser steps"),
        optimizer: str = typer.Option(
            "fire", help="fire (StructOptimizer's), bfgs, or fire+bfgs (FIRE, then BFGS once "
            "forces are below 0.3 eV/A: fewer steps)"),
        fix_cell: bool = typer.Option(False, "--fix-cell", help="relax positions only"),
        max_atoms: int = typer.Option(64, help="atoms per batched model call"),
        workers: int | None = typer.Option(
            None, help="worker processes (default: one per available core on CPU)"),
        phonons: bool = typer.Option(
            False, "--phonons", help="also check dynamic stability by phonons (small cells; "
            "adds min_phonon_freq_thz, dynamically_stable, phonon_error; use a tight --fmax)"),
    ) -> None:
        """Relax every structure; write relaxed cif, energy_per_atom, converged, steps."""
        frame = relax_file(input_path, out, model=model, fmax=fmax, steps=steps,
                           optimizer=optimizer, relax_cell=not fix_cell, max_atoms=max_atoms,
                           workers=workers, phonons={} if phonons else None)
        n_err = int((frame["error"].fillna("") != "").sum())
        typer.echo(f"relaxed {len(frame) - n_err}/{len(frame)} structures "
                   f"({int(frame['converged'].sum())} converged, {n_err} failed) -> {out}")
