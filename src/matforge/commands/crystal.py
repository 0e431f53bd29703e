import typer


def register(app: typer.Typer, train_app: typer.Typer) -> None:
    pass
