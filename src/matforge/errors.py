"""Errors a user can cause. The CLI turns these into one clear line and a non-zero exit."""

import difflib
from collections.abc import Iterable


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


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """' (did you mean 'budget'?)' for a misspelt key or name, '' when nothing is close.

    The one helper every strict lookup uses (spec keys, plug-in names, plug-in options), so
    every such message reads the same."""
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.5)
    return f" (did you mean {close[0]!r}?)" if close else ""
