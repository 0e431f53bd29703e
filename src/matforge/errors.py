"""Errors a user can cause. The CLI turns these into one clear line and a non-zero exit."""


class MatforgeError(Exception):
    """A problem with the user's input or environment, explained in one line."""


class DataError(MatforgeError):
    """A data file is missing, malformed, or holds values matforge cannot use."""

    def __init__(self, message: str, source: str | None = None, row: int | None = None):
        where = ""
        if source is not None:
            where = f"{source}"
            if row is not None:
                where += f", row {row}"
            where += ": "
        super().__init__(where + message)
        self.source = source
        self.row = row
