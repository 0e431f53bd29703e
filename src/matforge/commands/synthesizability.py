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
    ) -> None:
        """Score how much each composition looks like a compound made by experiment (0-1)."""
        from matforge.data import load_dataset
        from matforge.synthesizability import synthesizability_frame

        frame = synthesizability_frame(load_dataset(str(input)), model)
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
        target_tpr: float = typer.Option(0.95, help="share of validation positives kept by the "
                                                    "threshold"),
    ) -> None:
        """Fit the PU synthesizability model on the experimental and computed data sets."""
        from matforge.synthesizability.train import train_synthesizability

        result = train_synthesizability(out, seed=seed, n_bags=bags, n_random=random_unlabelled,
                                        target_tpr=target_tpr,
                                        command="matforge " + " ".join(sys.argv[1:]))
        val = result["val"]
        typer.echo(f"val: TPR {val['tpr']:.3f}, unlabelled above threshold "
                   f"{val['unlabelled_above']:.3f}, precision >= {val['precision_lower_bound']:.3f}")
        typer.echo(f"saved to {result['path']}")
