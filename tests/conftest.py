"""Shared test set-up: the shared data folder, an isolated cache, and quiet warnings."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"

if "MATFORGE_DATA_DIR" not in os.environ and SHARED_DATA.exists():
    os.environ["MATFORGE_DATA_DIR"] = str(SHARED_DATA)

warnings.filterwarnings("ignore", message="No Pauling electronegativity")


def pytest_configure(config: pytest.Config) -> None:
    # Each test session caches parsed data sets in one folder, reused across tests.
    os.environ.setdefault("MATFORGE_CACHE_DIR", str(ROOT / ".matforge_cache"))


def _skip_without_shared_data():
    """Without ../shared/data (a checkout alone, offline) a test or fixture that loads a
    benchmark file skips, saying which file: the registry's "not found ... download failed"."""
    try:
        return (yield)
    except Exception as exc:
        from matforge.errors import DataError

        if isinstance(exc, DataError) and "download failed" in str(exc) \
                and "MATFORGE_DATA_DIR" not in os.environ:
            pytest.skip(f"shared data not available: {exc}")
        raise


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item):
    return (yield from _skip_without_shared_data())


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item):
    return (yield from _skip_without_shared_data())


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.exists():
        pytest.skip("../shared/data is not present")
    return SHARED_DATA
