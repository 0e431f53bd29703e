"""Crystal structure commands: `matforge csp` and `matforge train crystal-diffusion`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from matforge.errors import MatforgeError


def load_csp_model(name_or_dir: str, options: dict[str, Any] | None = None) -> Any:
    """A structure predictor: one registered in `matforge.registry` (kind "csp", e.g.
    'random', pyxtal), or a shipped model / model directory of a generator that declares
    `predicts_structures` (perov-5, carbon-24, template). Each has `propose(composition, k,
    seed)`. `options` go through the predictor's options model (e.g. auto's `SearchOptions`)."""
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
        return predictor.load()(**predictor.validate(options).model_dump())
    if options:
        raise MatforgeError(f"{name_or_dir}: search options apply to registered structure "
                            f"predictors ({', '.join(registry.names('csp'))})")
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
    """Rows (material_id, formula, sample, cif, and the scalar properties a predictor attaches,
    e.g. auto's energy_per_atom and source) and one message per composition without one."""
    from tqdm.auto import tqdm

    from matforge import registry

    plugin = registry.find("generator", getattr(model, "kind", ""))
    batches = None
    if plugin is not None and plugin.supports("batched"):
        unreadable = {f: _unreadable(f) for f in formulas}
        readable = [f for f in formulas if not unreadable[f]]
        try:
            found = dict(zip(readable, model.propose_many(readable, k=n_samples, seed=seed,
                                                          progress=True)))
            batches = [found.get(f) or unreadable[f] for f in formulas]
        except MatforgeError:
            pass  # one composition failed the whole batch: one at a time names it
    if batches is None:
        batches = [_propose_one(model, f, n_samples, seed) for f in tqdm(formulas, desc="csp")]
    rows, failures = [], []
    for mid, formula, structures in zip(ids, formulas, batches):
        if isinstance(structures, str) or not structures:
            failures.append(f"{mid}: {structures or 'no structure found'}")
            continue
        rows += [{"material_id": mid, "formula": formula, "sample": j, "cif": s.to(fmt="cif"),
                  **_scalar_properties(s)} for j, s in enumerate(structures)]
    return rows, failures


def _propose_one(model: Any, formula: str, k: int, seed: int) -> list[Any] | str:
    """The model's structures for one composition, or why there are none."""
    try:
        return model.propose(formula, k=k, seed=seed)
    except MatforgeError as exc:
        return str(exc)


def _unreadable(formula: str) -> str:
    """'' for a formula pymatgen reads, else why not (one bad row must not stop a batch)."""
    from matforge.data.readers import parse_formula

    try:
        parse_formula(formula)
    except MatforgeError as exc:
        return str(exc)
    return ""


def _scalar_properties(structure: Any) -> dict[str, Any]:
    return {k: v for k, v in (structure.properties or {}).items()
            if isinstance(v, (str, int, float, bool))}


def search_settings(pairs: list[str] | None, **flags: Any) -> dict[str, Any]:
    """Search options from `--option KEY=VALUE` pairs (values read as YAML scalars) and the
    dedicated flags that were given."""
    import yaml

    settings: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep:
            raise MatforgeError(f"--option {pair!r}: expected KEY=VALUE")
        settings[key.strip()] = yaml.safe_load(value)
    settings.update({k: v for k, v in flags.items() if v is not None})
    return settings


def register(app: typer.Typer, train_app: typer.Typer) -> None:
    _register_csp(app)
    _register_train(train_app)


def _register_csp(app: typer.Typer) -> None:
    @app.command("csp")
    def csp(
        model: str = typer.Option(..., "--model",
                                  help="auto (structure search), perov-5, carbon-24, template, random, "
                                       "or a model dir"),
        input: Path = typer.Option(..., "--input", help="CSV with 'formula' [, material_id]"),
        limit: int = typer.Option(0, "--limit", help="only the first K rows (0 = all)"),
        n_samples: int = typer.Option(1, "--n-samples", help="structures per composition"),
        seed: int = typer.Option(0, "--seed", help="random seed"),
        out: Path = typer.Option(..., "--out", help="output CSV (material_id, formula, "
                                                    "sample, cif)"),
        budget_relaxations: int | None = typer.Option(
            None, "--budget-relaxations", help="auto: full relaxations per composition"),
        max_minutes: float | None = typer.Option(
            None, "--max-minutes", help="auto: minutes per composition before evolution stops"),
        potential: str | None = typer.Option(None, "--potential",
                                             help="auto: chgnet (default) or sevennet"),
        option: list[str] | None = typer.Option(
            None, "--option", help="auto: any search option KEY=VALUE (docs/crystal_generation.md)"),
        executor: str = typer.Option("serial", "--executor", help="auto: serial or ray"),
        store: Path | None = typer.Option(
            None, "--store", help="auto: SQLite file keeping finished compositions (resume)"),
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
        settings = search_settings(option, budget_relaxations=budget_relaxations,
                                   max_minutes=max_minutes, model=potential)
        generator = load_csp_model(model, settings)
        if model == "auto":
            generator.store_path, generator.executor = store, executor
        rows, failures = run_csp(generator, [str(f) for f in frame["formula"]], ids,
                                 n_samples, seed)
        out.parent.mkdir(parents=True, exist_ok=True)
        columns = ["material_id", "formula", "sample", "cif"]
        table = pd.DataFrame(rows)
        extra = [c for c in table.columns if c not in columns]
        table.reindex(columns=columns + extra).to_csv(out, index=False)
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
