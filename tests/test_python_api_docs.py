"""The public API: every name of `matforge.__all__` resolves, `import matforge` stays light,
and every python block of docs/python_api.md runs (in order, one namespace, in a temporary
working directory)."""

from __future__ import annotations

import re
import subprocess
import sys
import traceback
from pathlib import Path

import pytest

import matforge

DOC = Path(__file__).resolve().parent.parent / "docs" / "python_api.md"
FENCE = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)


def python_blocks(text: str) -> list[tuple[int, str]]:
    """(first line number, source) of every ```python block, in order."""
    return [(text.count("\n", 0, m.start(1)) + 1, m.group(1)) for m in FENCE.finditer(text)]


def run_blocks(blocks: list[tuple[int, str]], page: str) -> dict:
    """Execute the blocks in order in one namespace; the first that raises fails the test,
    named by its number and line."""
    namespace: dict = {"__name__": "python_api_docs"}
    for i, (line, source) in enumerate(blocks, start=1):
        where = f"{page} block {i} (line {line})"
        try:
            exec(compile(source, where, "exec"), namespace)  # noqa: S102 - our own docs
        except Exception as exc:  # noqa: BLE001 - report which block failed, and how
            pytest.fail(f"{where} raised {type(exc).__name__}: {exc}\n"
                        + "".join(traceback.format_exception(exc)[-6:]), pytrace=False)
    return namespace


def test_every_public_name_resolves():
    assert len(matforge.__all__) == len(set(matforge.__all__))
    assert set(matforge.__all__) - set(matforge._LAZY) == {"DataError", "MatforgeError",
                                                            "__version__"}
    assert set(matforge._LAZY) <= set(matforge.__all__)
    missing = [name for name in matforge.__all__ if getattr(matforge, name, None) is None]
    assert not missing
    assert set(matforge.__all__) <= set(dir(matforge))
    with pytest.raises(AttributeError, match="no attribute 'not_a_verb'"):
        matforge.not_a_verb  # noqa: B018


def test_import_matforge_is_light():
    code = ("import sys, matforge; "
            "print(sorted(m for m in ('torch', 'pymatgen', 'chgnet', 'pandas') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120)
    assert out.stdout.strip() == "[]"


def test_docs_use_only_exported_names():
    used = set(re.findall(r"\bmatforge\.([A-Za-z]\w*)", DOC.read_text()))
    assert used - set(matforge.__all__) == set()


def test_a_failing_block_is_named():
    page = "text\n```python\nx = 41\n```\n\n```python\nx += 1\nraise ValueError(x)\n```\n"
    blocks = python_blocks(page)
    assert blocks == [(3, "x = 41\n"), (7, "x += 1\nraise ValueError(x)\n")]
    assert run_blocks(blocks[:1], "page.md")["x"] == 41
    with pytest.raises(pytest.fail.Exception,
                       match=r"page.md block 2 \(line 7\) raised ValueError: 42"):
        run_blocks(blocks, "page.md")  # the blocks share one namespace, in order


def test_python_api_docs_blocks_run(tmp_path, monkeypatch):
    import torch

    blocks = python_blocks(DOC.read_text())
    assert len(blocks) >= 9
    monkeypatch.chdir(tmp_path)
    # one torch thread: on a shared, busy 2-core machine OpenMP spinning made CHGNet's tiny
    # graphs ~30x slower with two (library code never sets this; a test, like a script, may)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        run_blocks(blocks, "docs/python_api.md")
    finally:
        torch.set_num_threads(threads)
