"""`matforge train surrogate` and `matforge predict`: thin calls into matforge.surrogates."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from matforge.errors import MatforgeError


def register(app: typer.Typer, train_app: typer.Typer) -> None:
    @train_app.command("surrogate")
    def train_surrogate_cmd(
        data: str = typer.Option(..., "--data", help="registered data set or file path"),
        target: str = typer.Option(..., "--target", help="property column to learn"),
        kind: str = typer.Option("composition", "--kind", help="composition or structure"),
        model: str | None = typer.Option(
            None, "--model",
            help="composition: ensemble (default), attention, or blend (weighted mean of the "
                 "two, weight chosen on the val split); structure: structure"),
        out: Path = typer.Option(..., "--out", help="model directory to write"),
        seed: int = typer.Option(0, help="random seed"),
        max_train: int | None = typer.Option(None, help="subsample the train split to N rows"),
        members: int | None = typer.Option(None, help="ensemble members (blend: of its tree ensemble)"),
        max_minutes: float | None = typer.Option(
            None, help="training time budget (neural models)"),
        train_split: str = typer.Option("train", help="split to fit on"),
        val_split: str = typer.Option("val", help="split to calibrate the std on"),
        test_split: str = typer.Option("test", help="split to report on ('none' to skip)"),
        pretrained: str | None = typer.Option(
            None, "--pretrained",
            help="also fit from pretrained composition features ('auto': the shipped "
                 "composition-pretrained, or a model directory) and keep whichever start has "
                 "the lower validation MAE; ensemble model only"),
    ) -> None:
        """Fit a property surrogate with a calibrated uncertainty and save it to a directory."""
        from matforge.surrogates.train import train_surrogate

        if max_train is not None and max_train < 10:
            raise MatforgeError("--max-train must be at least 10")
        opts = {}
        if members is not None:
            opts["n_members"] = members
        if max_minutes is not None:
            if kind == "structure" or (model or "ensemble") == "ensemble":
                raise MatforgeError("--max-minutes applies to the attention and blend models only")
            opts["max_minutes"] = max_minutes
        if pretrained is not None:
            if kind != "composition" or (model or "ensemble") != "ensemble":
                raise MatforgeError("--pretrained applies to the composition ensemble only")
            opts["pretrained"] = pretrained
        result = train_surrogate(
            data, target, out, kind=kind, model=model, seed=seed, max_train=max_train,
            train_split=train_split, val_split=val_split,
            test_split=None if test_split == "none" else test_split,
            command="matforge " + " ".join(sys.argv[1:]), **opts)
        for split, m in result["metrics"].items():
            typer.echo(f"{split}: n={m['n']} MAE={m['mae']:.4f} RMSE={m['rmse']:.4f} "
                       f"cover68={m['coverage_68']:.3f} cover95={m['coverage_95']:.3f} "
                       f"miscal={m['miscalibration_area']:.3f}")
        if choice := result["run"]["pretrained_choice"]:
            typer.echo(f"kept the {choice['kept']} start (validation MAE: pretrained "
                       f"{choice['val_mae_pretrained']:.4f}, scratch "
                       f"{choice['val_mae_scratch']:.4f})")
        for warning in result["run"]["warnings"]:
            typer.echo(f"warning: {warning}", err=True)
        typer.echo(f"saved to {result['path']}")

    @train_app.command("pretrained")
    def train_pretrained_cmd(
        out: Path = typer.Option(..., "--out", help="model directory to write"),
        seed: int = typer.Option(0, help="random seed"),
    ) -> None:
        """Fit the pretrained composition features on the large computed data sets."""
        from matforge.surrogates.pretrained import train_pretrained

        model = train_pretrained(out, seed=seed, command="matforge " + " ".join(sys.argv[1:]))
        for task, m in model.info["tasks"].items():
            typer.echo(f"{task}: {m['n_train']:,} rows, val MAE {m['val_mae']:.4g}")
        typer.echo(f"saved to {out}")

    @app.command("predict")
    def predict_cmd(
        input: Path = typer.Argument(..., help="CSV (formula and/or cif), CIF folder or extxyz"),
        model: str = typer.Option(..., "--model", help="surrogate model directory"),
        out: Path = typer.Option(..., "--out", help="output CSV with mean and std columns"),
    ) -> None:
        """Predict a property with its uncertainty for every row of INPUT."""
        from matforge.surrogates.predict import predict_file

        n, target = predict_file(model, input, out)
        typer.echo(f"wrote {n} predictions of {target} (mean, std) to {out}")
