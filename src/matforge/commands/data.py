"""`matforge data list` and `matforge data info NAME`."""

from __future__ import annotations

from collections import Counter

import typer
from rich.console import Console
from rich.table import Table


def register(app: typer.Typer, train_app: typer.Typer) -> None:
    data_app = typer.Typer(help="Browse the registered data sets.", no_args_is_help=True)
    app.add_typer(data_app, name="data")

    @data_app.command("list")
    def list_cmd() -> None:
        """List the registered data sets."""
        from matforge.data import list_datasets

        table = Table("name", "kind", "properties", "description")
        for spec in list_datasets():
            table.add_row(spec.name, spec.kind, ", ".join(spec.properties), spec.description)
        Console().print(table)

    @data_app.command("info")
    def info_cmd(name: str = typer.Argument(..., help="registered name or a file path"),
                 split: str = typer.Option("all", help="train, val, test or all")) -> None:
        """Size, element counts and property statistics of a data set."""
        from pymatgen.core import Composition

        from matforge.data import DATASETS, load_dataset

        frame = load_dataset(name, split=split)
        console = Console()
        spec = DATASETS.get(name)
        if spec is not None:
            console.print(f"[bold]{spec.name}[/bold]: {spec.description}")
            console.print(f"source: {spec.source}\nlicence: {spec.license}\ncitation: {spec.citation}")
        n_struct = int(frame["cif"].notna().sum()) if "cif" in frame.columns else 0
        console.print(f"rows: {len(frame)}  unique compositions: {frame['formula'].nunique()}"
                      f"  structures: {n_struct}")
        if "split" in frame.columns:
            console.print("splits: " + ", ".join(f"{k}={v}" for k, v in
                                                 frame["split"].value_counts().items()))
        elements: Counter[str] = Counter()
        n_elem: Counter[int] = Counter()
        for formula in frame["formula"].drop_duplicates():
            comp = Composition(formula)
            elements.update(str(e) for e in comp.elements)
            n_elem[len(comp.elements)] += 1
        console.print(f"distinct elements: {len(elements)}; most common: "
                      + ", ".join(f"{e} {c}" for e, c in elements.most_common(12)))
        console.print("elements per composition: "
                      + ", ".join(f"{k}: {v}" for k, v in sorted(n_elem.items())))
        numeric = frame.select_dtypes("number")
        if not numeric.empty:
            stats = numeric.describe().T
            table = Table("property", "unit", "count", "mean", "std", "min", "median", "max")
            for col, row in stats.iterrows():
                unit = spec.properties.get(col, "") if spec is not None else ""
                table.add_row(str(col), unit, f"{row['count']:.0f}", f"{row['mean']:.4g}",
                              f"{row['std']:.4g}", f"{row['min']:.4g}", f"{row['50%']:.4g}",
                              f"{row['max']:.4g}")
            console.print(table)
