"""`matforge design`: the default campaign with no campaign options (a preset of the engine);
with a config file or campaign flags, a closed-loop campaign over a pool or generator."""

from __future__ import annotations

import json
from pathlib import Path

import typer


def _options(pairs: list[str], flag: str = "--option") -> dict:
    """`KEY=VALUE` options; values parsed as JSON where possible."""
    from matforge.errors import MatforgeError

    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise MatforgeError(f"{flag} expects KEY=VALUE, got {pair!r}")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def _is_preset(out: Path) -> bool:
    """Does `out` hold a campaign started by the default preset?"""
    from matforge.design.campaign import DB_NAME
    from matforge.design.store import CampaignStore

    if not (out / DB_NAME).exists():
        return False
    with CampaignStore(out / DB_NAME) as store:
        return (store.get_meta("spec") or {}).get("preset") is not None


def _headline(summary: dict) -> str:
    st = summary.get("stability") or {}
    text = f"[done] {summary['ranked']} ranked candidates -> {summary['candidates_csv']}"
    if st:
        text += f"; {st['summary']}"
    if summary.get("stopped"):
        text += f"; stopped early: {summary['stopped']}"
    return text


def register(app: typer.Typer, train_app: typer.Typer) -> None:
    @app.command("design")
    def design(
        config: Path | None = typer.Argument(None, help="campaign spec (YAML)"),
        pool: str | None = typer.Option(None, "--pool", help="candidate pool: CSV or data set"),
        pool_size: int | None = typer.Option(None, "--pool-size",
                                                help="seeded subsample of the pool"),
        oracle: str | None = typer.Option(
            None, "--oracle", help="lookup:FILE.csv | chgnet | command:PROG | plugin:mod:attr"),
        objective: list[str] = typer.Option(
            [], "--objective", help="COL:max, COL:min or COL:LOW..HIGH (repeatable)"),
        strategy: str | None = typer.Option(
            None, "--strategy", help="random, generate_rank, bayesopt, genetic, latent, "
            "steering, gflownet"),
        option: list[str] = typer.Option([], "--option",
                                         help="strategy option KEY=VALUE"),
        oracle_option: list[str] = typer.Option(
            [], "--oracle-option", help="oracle option KEY=VALUE, e.g. fmax=0.05 or "
            "hull=perov-5 for --oracle chgnet (repeatable)"),
        budget: int | None = typer.Option(None, "--budget", help="oracle evaluations"),
        batch_size: int | None = typer.Option(None, "--batch-size"),
        executor: str | None = typer.Option(None, "--executor", help="serial|batch|process|ray (batch: one oracle call per step, best for chgnet)"),
        workers: int | None = typer.Option(None, "--workers", help="process/Ray workers"),
        ray_address: str | None = typer.Option(None, "--ray-address"),
        generator: str | None = typer.Option(None, "--generator",
                                                help="model name/dir proposing candidates"),
        out: Path = typer.Option(Path("matforge-design"), "--out",
                                 help="results folder (new or empty)"),
        seed: int | None = typer.Option(None, help="random seed; same seed, same output"),
        resume: bool = typer.Option(False, "--resume", help="continue the campaign in --out"),
        max_minutes: float | None = typer.Option(
            None, "--max-minutes", help="wall-time bound of this run (default campaign: 10); "
            "no step starts that would not fit, --resume continues"),
    ) -> None:
        """Propose, score, verify and iterate. With no options: novel, stable candidates
        with a high p-type power factor from the embedded Materials Project transport data
        (the default campaign; --resume continues it)."""
        campaign_args = [config, pool, pool_size, oracle, strategy, budget, batch_size, executor,
                         workers, ray_address, generator]
        if not objective and not option and not oracle_option and \
                all(a is None for a in campaign_args) and \
                (not resume or _is_preset(out)):
            from matforge.design.presets import run_default_campaign

            summary = run_default_campaign(out, seed=seed or 0, resume=resume,
                                           max_minutes=10.0 if max_minutes is None
                                           else max_minutes, log=typer.echo)
            typer.echo(_headline(summary))
            return
        from matforge.design.campaign import run_campaign
        from matforge.design.spec import load_spec

        spec = None
        if not resume or config is not None or objective:
            overrides = {"objectives": list(objective) or None, "oracle": oracle,
                         "strategy": strategy, "budget": budget, "batch_size": batch_size,
                         "executor": executor, "workers": workers, "ray_address": ray_address,
                         "seed": seed, "pool": pool}
            spec = load_spec(config, **overrides)
            if pool_size is not None:
                spec.source.pool_size = pool_size
            if generator is not None:
                spec.source.generator = generator
            if option:
                spec.strategy.options.update(_options(option))
            if oracle_option:
                spec.oracle.options.update(_options(oracle_option, "--oracle-option"))
            if max_minutes is not None:
                spec.max_minutes = max_minutes
        resume_overrides = {"executor": executor, "workers": workers,
                            "ray_address": ray_address, "budget": budget,
                            "max_minutes": max_minutes}
        summary = run_campaign(spec, out, resume=resume, overrides=resume_overrides)
        typer.echo(json.dumps(summary, indent=2, default=str))
