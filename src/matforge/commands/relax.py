"""`matforge relax INPUT --out OUT.csv`: batched relaxation with CHGNet (or SevenNet)."""

from __future__ import annotations

from pathlib import Path

import typer


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
        keep_symmetry: bool = typer.Option(
            False, "--keep-symmetry", help="stay in each structure's starting space group "
            "(forces and stress symmetrised, as ASE's FixSymmetry)"),
        max_atoms: int = typer.Option(64, help="atoms per batched model call"),
        workers: int | None = typer.Option(
            None, help="worker processes (default: one per available core on CPU)"),
        phonons: bool = typer.Option(
            False, "--phonons", help="also check dynamic stability by phonons (small cells; "
            "adds min_phonon_freq_thz, dynamically_stable, phonon_error; use a tight --fmax)"),
    ) -> None:
        """Relax every structure; write relaxed cif, energy_per_atom, converged, steps."""
        from matforge.oracles.file_jobs import relax_file

        frame = relax_file(input_path, out, model=model, fmax=fmax, steps=steps,
                           optimizer=optimizer, relax_cell=not fix_cell, max_atoms=max_atoms,
                           workers=workers, phonons={} if phonons else None,
                           keep_symmetry=keep_symmetry)
        n_err = int((frame["error"].fillna("") != "").sum())
        typer.echo(f"relaxed {len(frame) - n_err}/{len(frame)} structures "
                   f"({int(frame['converged'].sum())} converged, {n_err} failed) -> {out}")
