"""Shared test set-up: the data folders, an isolated cache, and quiet warnings.

Two kinds of data reach the tests:

- `fixture_data`: a few real rows of each shared set, committed under
  tests/data/fixtures/shared_subset (laid out like the shared folder, rebuilt by
  make_shared_subset.py there). Tests that need *some* real rows use these, with or without
  the shared data, so they behave the same everywhere.
- `shared_data`: the full shared sets (MATFORGE_DATA_DIR, else ../shared/data beside the
  checkout), for tests whose assertions hold only on the full sets (published row counts,
  accuracy and calibration figures). Without them those tests skip, saying what is missing.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"
FIXTURE_DATA = ROOT / "tests" / "data" / "fixtures" / "shared_subset"

if "MATFORGE_DATA_DIR" not in os.environ and SHARED_DATA.exists():
    os.environ["MATFORGE_DATA_DIR"] = str(SHARED_DATA)
# The full data folder(s) of this run, fixed before any test can point the variable elsewhere.
REAL_DATA_DIRS = [Path(p).expanduser() for p in
                  os.environ.get("MATFORGE_DATA_DIR", "").split(os.pathsep) if p]

warnings.filterwarnings("ignore", message="No Pauling electronegativity")


def pytest_configure(config: pytest.Config) -> None:
    # Each test session caches parsed data sets in one folder, reused across tests.
    os.environ.setdefault("MATFORGE_CACHE_DIR", str(ROOT / ".matforge_cache"))


# The registry's message for a file that is in no data folder (and could not be downloaded):
# "<set>: <relative path> not found; ..." or "<set>: <relative path> not found in ...".
_ABSENT = re.compile(r"^[\w.-]+: \S+ not found(;| in )")


def data_absent(exc: BaseException) -> bool:
    """True when `exc` says a benchmark file is absent: not a parse error, a bad row or a
    checksum mismatch, which must fail the test."""
    from matforge.errors import DataError

    return (isinstance(exc, DataError) and bool(_ABSENT.match(str(exc)))
            and "checksum mismatch" not in str(exc))


def _skip(reason: str):
    """Skip, reported at the test's own line rather than at this file's (what pytest does
    for skips raised in fixtures)."""
    exc = pytest.skip.Exception(reason)
    exc._use_item_location = True  # pytest's own flag for that; ignored where unknown
    raise exc


def _skip_when_data_absent():
    """Safety net for a test that loads a full benchmark file without asking for
    `shared_data`: without any data folder it skips, naming the file; any other error fails."""
    try:
        return (yield)
    except Exception as exc:
        if not REAL_DATA_DIRS and data_absent(exc):
            _skip(f"shared data not available: {exc}")
        raise


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item):
    return (yield from _skip_when_data_absent())


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item):
    return (yield from _skip_when_data_absent())


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The full shared data folder; skips (saying so) where there is none."""
    for folder in REAL_DATA_DIRS:
        if folder.is_dir():
            return folder
    where = ", ".join(map(str, REAL_DATA_DIRS)) or f"MATFORGE_DATA_DIR unset, no {SHARED_DATA}"
    pytest.skip(f"needs the full shared data sets, not available here ({where})")


def _load_full(name: str, split: str = "all"):
    """Load a full registered data set, or skip naming the absent file. Any other problem
    with the data (a bad row, a checksum mismatch) raises."""
    from matforge.data import load_dataset

    try:
        return load_dataset(name, split=split)
    except Exception as exc:
        if data_absent(exc):
            _skip(f"needs the full {name} data set: {exc}")
        raise


@pytest.fixture(scope="session")
def full_dataset():
    """`full_dataset(name, split)`: the full shared set, or a skip saying which file is
    absent."""
    return _load_full


class FixtureData:
    """The committed few-row copy of the shared layout, read through the same registry."""

    root = FIXTURE_DATA

    @contextmanager
    def active(self) -> Iterator[Path]:
        """Point MATFORGE_DATA_DIR at the fixture folder only (the download cache stays
        after it), and forget the union of known compositions built from other folders."""
        from matforge.data.known import known_compositions

        old = os.environ.get("MATFORGE_DATA_DIR")
        os.environ["MATFORGE_DATA_DIR"] = str(self.root)
        known_compositions.cache_clear()
        try:
            with warnings.catch_warnings():
                # the cut perov-5 files are not the published files whose checksums we hold
                warnings.filterwarnings("ignore", message=r".* differs from the published ")
                yield self.root
        finally:
            if old is None:
                os.environ.pop("MATFORGE_DATA_DIR", None)
            else:
                os.environ["MATFORGE_DATA_DIR"] = old
            known_compositions.cache_clear()

    def load(self, name: str, split: str = "all"):
        """`load_dataset(name, split)` on the fixture rows."""
        from matforge.data import load_dataset

        with self.active():
            return load_dataset(name, split=split)


@pytest.fixture(scope="session")
def fixture_data() -> FixtureData:
    return FixtureData()


@pytest.fixture
def use_fixture_data(fixture_data: FixtureData) -> Iterator[Path]:
    """For the whole test, the registry sees the fixture rows instead of the shared data
    (for CLI commands that take a data set name)."""
    with fixture_data.active() as root:
        yield root
