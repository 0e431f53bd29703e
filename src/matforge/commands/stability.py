"""`matforge stability INPUT --out OUT.csv`: energy above the convex hull of any structure."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer, train_app: typer.Typer) -> None:
    @app.command("stability")
    def stability_cmd(
        input_path: Path = typer.Argument(
            ..., help="CSV with a 'cif' column, a CIF folder, a .cif or an .extxyz file"),
        out: Path = typer.Option(..., "--out", help="output CSV"),
        hull: str | None = typer.Option(
            None, "--hull", help="auto (offline, matforge's own phases), mp (Materials "
            "Project, needs MP_API_KEY), a file/folder of phases, or a structure data set; "
            "default: mp when MP_API_KEY is set, else auto"),
        model: str = typer.Option("chgnet", help="chgnet or sevennet"),
        relax: bool = typer.Option(True, "--relax/--no-relax", help="relax before scoring"),
        fmax: float = typer.Option(0.1, help="force criterion, eV/A (cell included)"),
        steps: int = typer.Option(500, help="maximum optimiser steps"),
    ) -> None:
        """Relax, put the energy on the MP2020 scale, place it on the hull of its chemical
        system: e_above_hull, decomposition, formation energy, status/reason per row."""
        from matforge.oracles.file_jobs import stability_file

        frame = stability_file(input_path, out, hull=hull, model=model, relax=relax,
                               fmax=fmax, steps=steps)
        ok = frame["status"] == "ok"
        e = frame.loc[ok, "e_above_hull"].astype(float)
        typer.echo(f"{int(ok.sum())}/{len(frame)} structures placed on the hull: "
                   f"{int((e <= 0).sum())} stable, {int((e <= 0.1).sum())} within 0.1 eV/atom "
                   f"-> {out}")
