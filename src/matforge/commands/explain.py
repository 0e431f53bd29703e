"""`matforge explain`: a thin call into matforge.attributions."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer, train_app: typer.Typer) -> None:
    @app.command("explain")
    def explain_cmd(
        input: Path = typer.Argument(..., help="CSV (formula and/or cif), CIF folder or extxyz"),
        model: str = typer.Option(..., "--model", help="surrogate model directory"),
        out: Path = typer.Option(..., "--out", help="output CSV: mean, base_value, shap_*"),
    ) -> None:
        """Attribute each prediction of a surrogate to its inputs (exact Shapley values:
        TreeSHAP for tree ensembles, per element for the neural models)."""
        from matforge.attributions import explain_file

        paths = explain_file(model, input, out)
        typer.echo("wrote " + " and ".join(str(p) for p in paths))
