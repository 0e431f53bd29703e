"""The Python 3.11 lock file pins every dependency that pyproject.toml names, within its ranges."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements" / "py311.lock.txt"
PYPROJECT = ROOT / "pyproject.toml"
# Pure-Python NVML bindings that chgnet requires; not a CUDA library.
NVIDIA_ALLOWED = {"nvidia-ml-py3"}


def _lock() -> dict[str, Version]:
    pins: dict[str, Version] = {}
    for number, raw in enumerate(LOCK.read_text().splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        name, sep, version = line.partition("==")
        assert sep and name.strip() and version.strip(), (
            f"line {number} is not name==version: {raw!r}"
        )
        assert not any(c in version for c in "<>=!~*,; @"), f"line {number} is not exact: {raw!r}"
        key = canonicalize_name(name.strip())
        assert key not in pins, f"{key} pinned twice"
        pins[key] = Version(version.strip())
    return pins


def _direct() -> list[Requirement]:
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    reqs = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        reqs.extend(extra)
    return [Requirement(r) for r in reqs]


def test_lock_pins_every_direct_dependency_within_pyproject_ranges():
    pins = _lock()
    direct = _direct()
    names = {canonicalize_name(r.name) for r in direct}
    assert {"torch", "shap", "pytest", "ray", "sevenn"} <= names
    for req in direct:
        key = canonicalize_name(req.name)
        assert key in pins, f"{req.name} is not in {LOCK.name}"
        assert req.specifier.contains(pins[key], prereleases=True), (
            f"{req.name}=={pins[key]} in the lock does not satisfy pyproject's {req}"
        )


def test_every_pyproject_dependency_has_an_upper_bound():
    for req in _direct():
        ops = {spec.operator for spec in req.specifier}
        assert ops & {"<", "<=", "==", "~="}, f"{req} has no upper bound"


def test_torch_is_the_pinned_cpu_release_and_no_cuda_packages():
    pins = _lock()
    assert pins["torch"] == Version("2.13.0")
    assert "torch==2.13.0" in LOCK.read_text().splitlines()
    cuda = [n for n in pins if n.startswith("nvidia-") and n not in NVIDIA_ALLOWED]
    assert not cuda, f"CUDA packages in the lock: {cuda}"
    assert "triton" not in pins


def test_lock_header_says_how_to_regenerate_it():
    head = [line for line in LOCK.read_text().splitlines() if line.startswith("#")]
    text = "\n".join(head)
    assert "pip freeze" in text and "venv" in text and "torch==2.13.0" in text


@pytest.mark.parametrize("block", ["<!-- main-command -->", "<!-- test-command -->"])
def test_readme_commands_install_from_the_lock(block):
    readme = (ROOT / "README.md").read_text()
    command = readme.split(block, 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    assert "pip install -c requirements/py311.lock.txt" in command
    assert "torch==2.13.0" in command
