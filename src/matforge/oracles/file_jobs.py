"""File in, file out: the batch jobs behind `matforge relax`, `phonons` and `stability`.

Each reads INPUT (a CSV with `cif`, a CIF folder, a .cif or an .extxyz file) row by row,
keeps the other columns, writes one output row per input row with a status or error, and
returns the frame. A single-structure input that cannot be used ends in one clear error.
"""

from __future__ import annotations

from pathlib import Path

from matforge.data.structure_input import read_structure_rows, require_usable_single


def relax_file(input_path: str | Path, out: str | Path, model: str = "chgnet",
               fmax: float = 0.1, steps: int = 500, optimizer: str = "fire",
               relax_cell: bool = True, max_atoms: int = 64, workers: int | None = None,
               formation_energy: bool = True, phonons: dict | None = None,
               keep_symmetry: bool = False) -> object:
    """Relax every structure of a file and write the CSV; returns the output frame.

    `phonons` (options for `oracles.phonons.phonon_check`, {} for the defaults) adds
    `min_phonon_freq_thz`, `dynamically_stable` and `phonon_error` for each relaxed structure.
    """
    import pandas as pd

    from matforge.oracles.relax import relax_structures

    rows = read_structure_rows(input_path)
    require_usable_single(rows, input_path)
    ok = [i for i, r in enumerate(rows) if r["_structure"] is not None]
    results = relax_structures([rows[i]["_structure"] for i in ok], fmax=fmax, steps=steps,
                               model=model, relax_cell=relax_cell, optimizer=optimizer,
                               max_atoms=max_atoms, workers=workers,
                               keep_symmetry=keep_symmetry)
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
                    record["formation_energy_per_atom"] = _formation(res, refs, model)
                if phonons is not None:
                    record.update(phonon_columns(res.structure, model, phonons))
            else:
                record["error"] = res.error
        if phonons is not None and "phonon_error" not in record:
            record.update(min_phonon_freq_thz=None, dynamically_stable=None,
                          phonon_error=record["error"] or "not relaxed")
        out_rows.append(record)
    return write_csv(pd.DataFrame(out_rows), out)


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


def _formation(res, refs, model: str) -> float | None:
    """Against the elemental references only; `matforge stability` gives the hull."""
    from matforge.oracles.compatibility import corrected_energy_per_atom
    from matforge.oracles.potentials import potential_info
    from matforge.oracles.references import formation_energy_per_atom

    if not all(str(el) in refs for el in res.structure.composition.elements):
        return None  # computing new references is slow; the shipped table covers Z <= 94
    try:
        energy = corrected_energy_per_atom(res.structure, res.energy_per_atom,
                                           potential_info(model))
    except ValueError:
        return None
    return formation_energy_per_atom(res.structure.composition, energy, refs)


def phonons_file(input_path: str | Path, out: str | Path, model: str = "chgnet",
                 relax: bool = False, fmax: float = 0.01, **options) -> object:
    """Phonon check of every structure of a file (optionally relaxed first); writes the CSV.
    With `relax` this is `matforge relax --phonons` (relaxed cif and energies included)."""
    import pandas as pd

    if relax:
        return relax_file(input_path, out, model=model, fmax=fmax, formation_energy=False,
                          phonons=options)
    out_rows = []
    rows = read_structure_rows(input_path)
    require_usable_single(rows, input_path)
    for row in rows:
        record = {k: v for k, v in row.items() if k not in {"_structure", "error"}}
        if row["_structure"] is None:
            record.update(min_phonon_freq_thz=None, dynamically_stable=None,
                          phonon_error=row.get("error", ""))
        else:
            record["formula"] = row["_structure"].composition.reduced_formula
            record.update(phonon_columns(row["_structure"], model, options))
        out_rows.append(record)
    return write_csv(pd.DataFrame(out_rows), out)


def stability_file(input_path: str | Path, out: str | Path, hull: str | None = None,
                   model: str = "chgnet", relax: bool = True, fmax: float = 0.1,
                   steps: int = 500, progress: bool = True) -> object:
    """`oracles.stability.stability` of a file, written to `out` as CSV."""
    from matforge.oracles.stability import stability

    return write_csv(stability(input_path, hull=hull, model=model, relax=relax, fmax=fmax,
                               steps=steps, progress=progress), out)


def write_csv(frame, out: str | Path):
    """Write `frame` to `out` (folders created) and return it."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(out, index=False)
    return frame
