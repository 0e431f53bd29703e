"""The `matforge` command. Each area registers its sub-commands from `matforge.commands.*`;
every command is a thin call into the library. User errors end in one line and exit code 2."""

from __future__ import annotations

import importlib
import sys
import warnings

import typer

from matforge.errors import MatforgeError

app = typer.Typer(help="matforge: inverse design of inorganic crystalline materials.",
                  no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False)
train_app = typer.Typer(help="Train a model (generators, surrogates).", no_args_is_help=True)
app.add_typer(train_app, name="train")

# One module per area; each defines register(app, train_app).
COMMAND_MODULES = ("data", "design", "generate", "evaluate", "composition", "fill", "crystal",
                   "surrogate", "relax", "phonons", "stability", "synthesizability",
                   "explain")

for _name in COMMAND_MODULES:
    importlib.import_module(f"matforge.commands.{_name}").register(app, train_app)


def main() -> None:
    warnings.filterwarnings("ignore", category=UserWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    try:
        app()
    except MatforgeError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
