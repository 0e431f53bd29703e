"""`matforge phonons INPUT --out OUT.csv`: dynamic stability of small cells (phonopy + CHGNet)."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer, train_app: typer.Typer) -> None:
    @app.command("phonons")
    def phonons_cmd(
        input_path: Path = typer.Argument(
            ..., help="CSV with a 'cif' column, a CIF folder, a .cif or an .extxyz file"),
        out: Path = typer.Option(..., "--out", help="output CSV"),
        model: str = typer.Option("chgnet", help="chgnet or sevennet"),
        relax: bool = typer.Option(False, "--relax", help="relax (cell and positions) first"),
        fmax: float = typer.Option(0.01, help="force criterion for --relax, eV/A"),
        tolerance: float = typer.Option(0.1, help="THz; modes above -tolerance count as real"),
        mesh: int = typer.Option(8, help="n x n x n Gamma-centred q-mesh"),
        min_length: float = typer.Option(7.0, help="minimum supercell width, A"),
        max_atoms: int = typer.Option(20, help="largest input cell accepted"),
        max_supercell_atoms: int = typer.Option(256, help="largest supercell accepted"),
    ) -> None:
        """Phonons by finite displacements: min_phonon_freq_thz, dynamically_stable per row."""
        from matforge.oracles.file_jobs import phonons_file

        frame = phonons_file(input_path, out, model=model, relax=relax, fmax=fmax,
                             tolerance=tolerance, mesh=mesh, min_length=min_length,
                             max_atoms=max_atoms, max_supercell_atoms=max_supercell_atoms)
        done = frame["dynamically_stable"].notna()
        n_stable = int(frame.loc[done, "dynamically_stable"].astype(bool).sum())
        typer.echo(f"{int(done.sum())}/{len(frame)} structures checked, {n_stable} dynamically "
                   f"stable -> {out}")
