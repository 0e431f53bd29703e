"""Parquet cache of parsed data sets: the first read parses, later reads are fast.

The cache key is built from the source files' paths, sizes and modification times, plus
`recipe` (how the frame is built from them, e.g. the column renames) and CACHE_VERSION, so an
edited source file or a changed parser is parsed again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from matforge.data.paths import cache_dir

CACHE_VERSION = "1"  # bump when a parser's output changes


def _fingerprint(name: str, sources: list[Path], recipe: str) -> str:
    h = hashlib.sha256(f"{CACHE_VERSION}|{name}|{recipe}".encode())
    for src in sources:
        st = src.stat()
        h.update(f"{src.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode())
    return h.hexdigest()[:16]


def cached_frame(name: str, sources: list[Path], parse: Callable[[], pd.DataFrame],
                 recipe: str = "") -> pd.DataFrame:
    """Return the parsed frame for `sources`, from the parquet cache when it is current."""
    folder = cache_dir() / "parquet"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name.replace('/', '_')}-{_fingerprint(name, sources, recipe)}.parquet"
    if path.exists():
        return pd.read_parquet(path)
    frame = parse()
    tmp = path.with_suffix(".tmp")
    frame.to_parquet(tmp, index=False)
    tmp.replace(path)  # atomic: a crash never leaves a half-written cache file
    return frame
