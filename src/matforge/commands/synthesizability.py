"""`matforge synthesizability` and `matforge train synthesizability`: thin calls into
matforge.synthesizability."""

from __future__ import annotations

import sys
from pathlib import Path

import typer


def register(app: typer.Typer, train_app: typer.Typer) -> None:
    @app.command("synthesizability")
    def synthesizability_cmd(
        input: Path = typer.Argument(..., help="CSV (formula and/or cif), CIF folder or extxyz"),
        out: Path = typer.Option(..., "--out", help="output CSV with a synthesizability column"),
        model: str = typer.Option("synthesizability", "--model",
                                  help="shipped model name or model directory"),
        structure_model: str = typer.Option(
            "synthesizability-structure", "--structure-model",
            help="model for inputs with structures (adds structure_synthesizability); "
                 "'none' to skip"),
    ) -> None:
        """Score how much each composition (and each structure, where given) looks like a
        compound made by experiment (0-1)."""
        from matforge.data import load_dataset
        from matforge.synthesizability import synthesizability_frame

        frame = synthesizability_frame(load_dataset(str(input)), model,
                                       None if structure_model == "none" else structure_model)
        out.parent.mkdir(parents=True, exist_ok=True)
        frame.to_csv(out, index=False)
        likely = int(frame["likely_synthesizable"].sum()) if "likely_synthesizable" in frame else 0
        typer.echo(f"wrote {len(frame)} scores to {out} ({likely} at or above the model's "
                   "threshold)")

    @train_app.command("synthesizability")
    def train_synthesizability_cmd(
        out: Path = typer.Option(..., "--out", help="model directory to write"),
        seed: int = typer.Option(0, help="random seed"),
        bags: int = typer.Option(8, help="bags of the PU classifier"),
        random_unlabelled: int = typer.Option(
            50_000, help="random charge-balanced compositions added to the unlabelled set"),
        variant: str = typer.Option("composition", help="composition, or structure (the "
                                                        "structure variant; needs CHGNet)"),
        target_tpr: float = typer.Option(0.95, help="TPR the threshold must reach on new "
                                                    "positives"),
        confidence: float = typer.Option(0.95, help="confidence of that TPR, from a one-sided "
                                                    "bound on the validation positives"),
    ) -> None:
        """Fit the PU synthesizability model on the experimental and computed data sets."""
        from matforge.errors import MatforgeError
        from matforge.synthesizability.train import (
            train_structure_synthesizability,
            train_synthesizability,
        )

        command = "matforge " + " ".join(sys.argv[1:])
        if variant == "composition":
            result = train_synthesizability(out, seed=seed, n_bags=bags,
                                            n_random=random_unlabelled, target_tpr=target_tpr,
                                            confidence=confidence, command=command)
        elif variant == "structure":
            result = train_structure_synthesizability(out, seed=seed, n_bags=bags,
                                                      target_tpr=target_tpr,
                                                      confidence=confidence, command=command)
        else:
            raise MatforgeError(f"unknown variant {variant!r} (use composition or structure)")
        val = result["val"]
        typer.echo(f"val: TPR {val['tpr']:.3f}, unlabelled above threshold "
                   f"{val['unlabelled_above']:.3f}, precision >= {val['precision_lower_bound']:.3f}")
        typer.echo(f"saved to {result['path']}")
