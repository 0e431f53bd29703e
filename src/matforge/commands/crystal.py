"""Crystal structure commands: `matforge csp` and `matforge train crystal-diffusion`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from matforge.errors import MatforgeError


def load_csp_model(name_or_dir: str) -> Any:
    """A structure predictor: one registered in `matforge.registry` (kind "csp", e.g.
    'random', pyxtal), or a shipped model / model directory of a generator that declares
    `predicts_structures` (perov-5, carbon-24, template). Each has `propose(composition, k,
    seed)`."""
    from matforge import registry
    from matforge.errors import did_you_mean
    from matforge.generators.base import (
        SHIPPED_MODELS,
        load_generator,
        read_config,
        resolve_model_dir,
    )

    predictor = registry.find("csp", name_or_dir)
    if predictor is not None:
        return predictor.load()()
    try:
        path = resolve_model_dir(name_or_dir)
    except MatforgeError:  # neither registered nor a directory: a misspelt name?
        names = [*registry.names("csp"), *(p.name for p in SHIPPED_MODELS.iterdir())]
        hint = did_you_mean(name_or_dir, names)
        if not hint:
            raise
        raise MatforgeError(f"unknown structure predictor {name_or_dir!r}{hint}") from None
    kind = str(read_config(path).get("kind"))
    if not registry.get("generator", kind).supports("predicts_structures"):
        raise MatforgeError(f"model {name_or_dir!r} ({kind}) does not predict structures "
                            f"(structure predictors: {', '.join(registry.names('csp'))}, "
                            "or a crystal model)")
    return load_generator(name_or_dir)


def run_csp(model: Any, formulas: list[str], ids: list[Any], n_samples: int, seed: int
            ) -> tuple[list[dict[str, Any]], list[str]]:
    """Rows (material_id, formula, sample, cif) and one message per composition that failed."""
    from tqdm.auto import tqdm

    rows, failures = [], []
    if hasattr(model, "propose_many"):
        try:
            batches = model.propose_many(formulas, k=n_samples, seed=seed, progress=True)
        except MatforgeError:
            batches = None  # fall back to one at a time to report the failing rows
        if batches is not None:
            for mid, formula, structures in zip(ids, formulas, batches):
                rows += [{"material_id": mid, "formula": formula, "sample": j,
                          "cif": s.to(fmt="cif")} for j, s in enumerate(structures)]
            return rows, failures
    for mid, formula in tqdm(list(zip(ids, formulas)), desc="csp"):
        try:
            structures = model.propose(formula, k=n_samples, seed=seed)
        except MatforgeError as exc:
            failures.append(f"{mid}: {exc}")
            continue
        rows += [{"material_id": mid, "formula": formula, "sample": j, "cif": s.to(fmt="cif")}
                 for j, s in enumerate(structures)]
    return rows, failures


def register(app: typer.Typer, train_app: typer.Typer) -> None:
    _register_csp(app)
    _register_train(train_app)


def _register_csp(app: typer.Typer) -> None:
    @app.command("csp")
    def csp(
        model: str = typer.Option(..., "--model",
                                  help="perov-5, carbon-24, template, random, or a model dir"),
        input: Path = typer.Option(..., "--input", help="CSV with 'formula' [, material_id]"),
        limit: int = typer.Option(0, "--limit", help="only the first K rows (0 = all)"),
        n_samples: int = typer.Option(1, "--n-samples", help="structures per composition"),
        seed: int = typer.Option(0, "--seed", help="random seed"),
        out: Path = typer.Option(..., "--out", help="output CSV (material_id, formula, "
                                                    "sample, cif)"),
        chgnet_rank: int = typer.Option(-1, "--chgnet-rank",
                                        help="template model: rank proposals by CHGNet energy "
                                             "after this many relaxation steps (-1 = off)"),
    ) -> None:
        """Crystal structure prediction: structures for each composition of a CSV."""
        import pandas as pd

        from matforge.data.readers import read_csv_frame

        if n_samples <= 0:
            raise MatforgeError("--n-samples must be positive")
        if not input.exists():
            raise MatforgeError(f"{input}: no such file")
        frame = read_csv_frame(input)
        if "formula" not in frame.columns:
            raise MatforgeError(f"{input}: needs a 'formula' column")
        if limit > 0:
            frame = frame.head(limit)
        ids = frame["material_id"].tolist() if "material_id" in frame.columns \
            else list(range(len(frame)))
        generator = load_csp_model(model)
        if chgnet_rank >= 0:
            from matforge.generators.crystal.template import TemplateCSP, chgnet_ranker

            if not isinstance(generator, TemplateCSP):
                raise MatforgeError("--chgnet-rank applies to template models only")
            generator.rank_fn = chgnet_ranker(relax_steps=chgnet_rank)
        rows, failures = run_csp(generator, [str(f) for f in frame["formula"]], ids,
                                 n_samples, seed)
        out.parent.mkdir(parents=True, exist_ok=True)
        pd.DataFrame(rows, columns=["material_id", "formula", "sample", "cif"]).to_csv(
            out, index=False)
        for msg in failures[:10]:
            typer.echo(f"skipped {msg}", err=True)
        if len(failures) > 10:
            typer.echo(f"... and {len(failures) - 10} more skipped", err=True)
        typer.echo(f"wrote {len(rows)} structures for {len(frame) - len(failures)} of "
                   f"{len(frame)} compositions to {out}")


def _register_train(train_app: typer.Typer) -> None:
    @train_app.command("crystal-diffusion")
    def train_crystal_diffusion(
        data: str = typer.Option(..., "--data", help="structure data set name or file"),
        split: str = typer.Option("val", "--split", help="all, train, val (never test)"),
        out: Path = typer.Option(..., "--out", help="model directory to write"),
        max_minutes: float = typer.Option(20.0, "--max-minutes", help="training time limit"),
        prop: str = typer.Option("", "--prop", help="property column for guidance ('' = none)"),
        hidden: int = typer.Option(128, "--hidden"),
        layers: int = typer.Option(4, "--layers"),
        steps: int = typer.Option(500, "--steps", help="diffusion steps"),
        batch_size: int = typer.Option(128, "--batch-size"),
        lr: float = typer.Option(1e-3, "--lr"),
        threads: int = typer.Option(2, "--threads", help="torch CPU threads"),
        seed: int = typer.Option(0, "--seed"),
    ) -> None:
        """Train the periodic lattice + fractional-coordinate diffusion (CSP and de novo)."""
        from matforge.data import load_dataset
        from matforge.generators.crystal.diffusion.generator import CrystalDiffusion

        if split == "test":
            raise MatforgeError("refusing to train on the test split")
        frame = load_dataset(data, split=split)
        gen = CrystalDiffusion(hidden=hidden, layers=layers, steps=steps,
                               data=data, split=split)
        gen.fit(frame, max_minutes=max_minutes, prop=prop or None, batch_size=batch_size,
                lr=lr, threads=threads, seed=seed)
        gen.save(out)
        typer.echo(f"trained {gen.config['trained_epochs']} epochs in "
                   f"{gen.config['train_seconds']} s; saved to {out}")
