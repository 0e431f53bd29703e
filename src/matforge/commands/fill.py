"""`matforge fill`: doping and substitution design with the blank-filling ("tinkering") model.

A blank is written '?' or '*' in a plain formula (`Li?PO4`, `Sr?O3`, `Li?2?O4`; the count
after a blank is its count), or made by `--mask EL`, which blanks an element of the formula
and never proposes that element back (`LiFePO4 --mask Fe`). Quote the formula in a shell:
'?' and '*' are glob characters.
"""

from __future__ import annotations

from pathlib import Path

import typer

from matforge.errors import MatforgeError


def fill_table(model: str, formula: str, mask: list[str], top_k: int) -> list[dict]:
    """Ranked completions with probabilities and the strict SMACT verdict of each."""
    from matforge import registry
    from matforge.chem import check_composition
    from matforge.generators.base import load_generator

    if top_k < 1:
        raise MatforgeError("--top must be at least 1")
    gen = load_generator(model)
    if not registry.get("generator", gen.kind).supports("fill"):
        raise MatforgeError(f"{model} is a {gen.kind} model; `fill` needs a composition-blank "
                            "model (train one with `matforge train composition-blank`)")
    rows = gen.fill_ranked(formula, top_k=top_k, mask=mask)
    for rank, row in enumerate(rows, 1):
        row["rank"] = rank
        row["smact_valid"] = check_composition(row["formula"]).valid_strict
    return rows


def register(app: typer.Typer, train_app: typer.Typer) -> None:
    @app.command("fill")
    def fill(
        formula: str = typer.Argument(..., help="formula with '?' or '*' blanks, e.g. 'Li?PO4'"),
        model: str = typer.Option(..., "--model", help="composition-blank model directory"),
        mask: list[str] = typer.Option([], "--mask", help="element of FORMULA to replace "
                                       "(repeatable), e.g. --mask Fe"),
        top: int = typer.Option(10, "--top", help="number of completions"),
        out: Path | None = typer.Option(None, "--out", help="also write the table to a CSV"),
    ) -> None:
        """Propose elements for the blanks of a composition, with probabilities."""
        import pandas as pd

        rows = fill_table(model, formula, mask, top)
        table = pd.DataFrame(rows, columns=["rank", "formula", "fills", "probability",
                                            "smact_valid"])
        typer.echo(table.to_string(index=False))
        if out is not None:
            out.parent.mkdir(parents=True, exist_ok=True)
            table.to_csv(out, index=False)
            typer.echo(f"wrote {len(table)} rows to {out}")
