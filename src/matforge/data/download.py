"""Download a public file into the cache, verifying its SHA-256 when one is known."""

from __future__ import annotations

import hashlib
import shutil
import urllib.request
from pathlib import Path

from matforge.errors import DataError


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def download(url: str, dest: Path, sha256: str | None = None, timeout: float = 60.0) -> Path:
    """Fetch `url` to `dest` atomically. A checksum mismatch deletes the file and raises.

    Where no checksum is registered (the published file was never available to us to hash),
    the computed one is written beside the file so later reads can be checked against it.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(dest.suffix + ".part")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(tmp, "wb") as out:
            shutil.copyfileobj(response, out)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise DataError(f"could not download {url}: {exc}") from exc
    digest = sha256_of(tmp)
    if sha256 is not None and digest != sha256:
        tmp.unlink(missing_ok=True)
        raise DataError(f"checksum mismatch for {url}: expected {sha256}, got {digest}")
    tmp.replace(dest)
    dest.with_suffix(dest.suffix + ".sha256").write_text(digest + "\n")
    return dest
