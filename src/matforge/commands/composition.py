"""`matforge train composition-transformer|composition-vae|composition-gan|composition-blank`."""

from __future__ import annotations

from pathlib import Path

import typer

from matforge import registry
from matforge.errors import MatforgeError

DEFAULT_DATA = "mp-e-hull,mp-transport,oqmd-bandgap"

# The generator kinds (`matforge.registry`) with a `matforge train KIND` command here
TRAINABLE = ("composition-transformer", "composition-vae", "composition-gan",
             "composition-blank")


def train_composition(kind: str, data: str, out: Path, condition_on: list[str] | None,
                      max_minutes: float, epochs: int | None, seed: int,
                      all_compositions: bool = False, pretrained: str | None = None,
                      fine_tune: str = "adapter", **options: object) -> Path:
    """Build, fit and save one composition generator; returns the model directory. With
    `pretrained` (a shipped model's name or a directory) the generator is loaded from it and
    fine-tuned on `data` instead (`fine_tune`: "adapter" or "full")."""
    from matforge.generators.composition.common import load_training_data, set_threads

    set_threads()
    if max_minutes <= 0:
        raise MatforgeError("--max-minutes must be positive")
    cls = registry.get("generator", kind).load()
    frame = load_training_data(data)
    conds = [c.strip() for c in (condition_on or []) for c in c.split(",") if c.strip()]
    fit_opts = {"max_minutes": max_minutes, "seed": seed, "valid_only": not all_compositions}
    if epochs is not None:
        fit_opts["epochs"] = epochs
    if pretrained:
        gen = _load_pretrained(kind, pretrained)
        gen.fine_tune(frame, conds, mode=fine_tune, **fit_opts)
    else:
        gen = cls(condition_on=conds, **options)
        gen.fit(frame, **fit_opts)
    gen.info["data"] = data
    return gen.save(out)


def _load_pretrained(kind: str, pretrained: str):
    """The generator to fine-tune; only the transformer can be fine-tuned."""
    from matforge.generators import load_generator

    if kind != "composition-transformer":
        raise MatforgeError(f"--pretrained: fine-tuning is available for "
                            f"composition-transformer, not {kind}")
    gen = load_generator(pretrained)
    if gen.kind != kind:
        raise MatforgeError(f"--pretrained {pretrained} is a {gen.kind}, not a {kind}")
    return gen


def _command(kind: str):
    def command(
        data: str = typer.Option(DEFAULT_DATA, "--data",
                                 help="data set names (train splits) or files, comma-separated"),
        out: Path = typer.Option(..., "--out", help="model directory to write"),
        condition_on: list[str] | None = typer.Option(
            None, "--condition-on", help="property column(s) to condition on"),
        max_minutes: float = typer.Option(25.0, "--max-minutes", help="training time limit"),
        epochs: int | None = typer.Option(None, "--epochs", help="passes over the data"),
        seed: int = typer.Option(0, "--seed"),
        all_compositions: bool = typer.Option(
            False, "--all-compositions",
            help="train on every composition, not only those passing the strict SMACT check"),
        pretrained: str | None = typer.Option(
            None, "--pretrained",
            help="fine-tune this model (shipped name such as composition-default, or a "
                 "directory) on --data instead of training from scratch (transformer only)"),
        fine_tune: str = typer.Option(
            "adapter", "--fine-tune",
            help="with --pretrained: 'adapter' trains only the embeddings of new "
                 "--condition-on properties on the frozen model; 'full' trains every weight "
                 "gently (a family of compositions)"),
    ) -> None:
        path = train_composition(kind, data, out, condition_on, max_minutes, epochs, seed,
                                 all_compositions, pretrained, fine_tune)
        typer.echo(f"saved {kind} to {path}")

    command.__doc__ = f"Train a {kind.split('-', 1)[1]} composition generator."
    return command


def register(app: typer.Typer, train_app: typer.Typer) -> None:
    for kind in TRAINABLE:
        train_app.command(kind)(_command(kind))
