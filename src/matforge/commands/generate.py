"""`matforge generate`: sample from any generator (shipped name or model directory)."""

from __future__ import annotations

from pathlib import Path

import typer

from matforge.errors import MatforgeError


def parse_conditions(items: list[str]) -> dict[str, float | tuple[float, float]]:
    """PROP=VALUE or PROP=LOW..HIGH (either end may be empty for an open range)."""
    out: dict[str, float | tuple[float, float]] = {}
    for item in items:
        if "=" not in item:
            raise MatforgeError(f"--condition {item!r}: use PROP=VALUE or PROP=LOW..HIGH")
        prop, value = item.split("=", 1)
        try:
            if ".." in value:
                lo, hi = value.split("..", 1)
                out[prop.strip()] = (float(lo) if lo else float("-inf"),
                                     float(hi) if hi else float("inf"))
            else:
                out[prop.strip()] = float(value)
        except ValueError:
            raise MatforgeError(f"--condition {item!r}: {value!r} is not a number or range") from None
    return out


def register(app: typer.Typer, train_app: typer.Typer) -> None:
    @app.command("generate")
    def generate(
        model: str = typer.Option(..., "--model", help="shipped model name or model directory"),
        n: int = typer.Option(1000, "-n", help="number of samples"),
        condition: list[str] = typer.Option([], "--condition", help="PROP=VALUE or PROP=LOW..HIGH"),
        seed: int = typer.Option(0, help="random seed"),
        out: Path = typer.Option(..., "--out", help="output CSV"),
        valid_only: bool = typer.Option(
            False, "--valid-only", help="compositions: resample until each passes the strict "
            "SMACT check (charge-neutral, electronegativity-balanced, not all-metal)"),
        novel_only: bool = typer.Option(
            False, "--novel-only", help="compositions: resample until each is distinct and "
            "absent from the model's training data"),
        temperature: float | None = typer.Option(
            None, "--temperature", help="compositions: sampling temperature (transformer, VAE, "
            "blank filler, GAN); lower gives more valid, more familiar compositions"),
        guidance: float | None = typer.Option(
            None, "--guidance", help="compositions with --condition: classifier-free guidance "
            "weight (transformer; 0 = plain conditional, higher pulls harder toward the "
            "target and may cost validity)"),
        csp: str = typer.Option(
            "", "--csp", help="composition models: give each composition a structure with "
            "this CSP model (template, perov-5, carbon-24, random or a model dir); "
            "compositions it cannot place are resampled"),
    ) -> None:
        """Sample compositions or structures from a trained generator into a CSV."""
        from matforge import registry
        from matforge.candidate import write_candidates
        from matforge.generators.base import load_generator

        if n <= 0:
            raise MatforgeError("-n must be positive")
        generator = load_generator(model)
        flags = {"reject_invalid": ("--valid-only", valid_only),
                 "novel_only": ("--novel-only", novel_only)}
        options = {key: True for key, (_, on) in flags.items() if on}
        # what the generator can do is declared in the registry, not read off its signature
        declared = registry.get("generator", generator.kind)
        unsupported = [flags[k][0] for k in options if not declared.supports(k)]
        if unsupported:
            raise MatforgeError(f"{generator.kind} does not support {', '.join(unsupported)}")
        if temperature is not None:
            if temperature <= 0:
                raise MatforgeError("--temperature must be positive")
            if not declared.supports("temperature"):
                raise MatforgeError(f"{generator.kind} does not support --temperature")
            options["temperature"] = temperature
        if guidance is not None:
            if not declared.supports("guidance"):
                raise MatforgeError(f"{generator.kind} does not support --guidance")
            if not condition:
                raise MatforgeError("--guidance weighs a --condition; give one")
            options["guidance"] = guidance
        cond = parse_conditions(condition) or None
        if csp:
            from matforge.commands.crystal import load_csp_model
            from matforge.generators.crystal.denovo import generate_structures

            candidates, n_skipped = generate_structures(
                generator, load_csp_model(csp), n, seed=seed, condition=cond, **options)
            write_candidates(candidates, out)
            typer.echo(f"wrote {len(candidates)} structures to {out} ({n_skipped} sampled "
                       f"compositions had no {csp} structure and were resampled)")
            return
        candidates = generator.sample(n, condition=cond, seed=seed, **options)
        write_candidates(candidates, out)
        typer.echo(f"wrote {len(candidates)} samples to {out}")
