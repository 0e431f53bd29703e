"""Where matforge looks for data and where it caches what it parsed or downloaded."""

from __future__ import annotations

import os
from pathlib import Path


def data_dirs() -> list[Path]:
    """Folders searched for benchmark files, in order: MATFORGE_DATA_DIR (os.pathsep-separated),
    then the download cache."""
    dirs = []
    env = os.environ.get("MATFORGE_DATA_DIR")
    if env:
        dirs.extend(Path(p).expanduser() for p in env.split(os.pathsep) if p)
    dirs.append(download_dir())
    return dirs


def cache_dir() -> Path:
    root = os.environ.get("MATFORGE_CACHE_DIR")
    path = Path(root).expanduser() if root else Path.home() / ".cache" / "matforge"
    path.mkdir(parents=True, exist_ok=True)
    return path


def download_dir() -> Path:
    path = cache_dir() / "downloads"
    path.mkdir(parents=True, exist_ok=True)
    return path
