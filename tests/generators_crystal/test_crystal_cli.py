"""`matforge csp` end to end with the built-in template model and the pyxtal baseline."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from pymatgen.core import Composition, Structure
from typer.testing import CliRunner

from matforge.cli import app


def test_csp_template_writes_one_row_per_sample(tmp_path: Path) -> None:
    inp = tmp_path / "in.csv"
    pd.DataFrame({"material_id": ["a", "b", "c"],
                  "formula": ["SrTiO3", "NaCl", "LiFePO4"]}).to_csv(inp, index=False)
    out = tmp_path / "out.csv"
    res = CliRunner().invoke(app, ["csp", "--model", "template", "--input", str(inp),
                                   "--n-samples", "2", "--seed", "1", "--out", str(out)])
    assert res.exit_code == 0, res.output
    frame = pd.read_csv(out)
    assert list(frame.columns)[:4] == ["material_id", "formula", "sample", "cif"]
    assert "template_formula" in frame.columns  # each proposal says which template it reused
    assert set(frame["material_id"]) == {"a", "b"}  # no ABCD4 prototype: c is skipped
    for row in frame.itertuples():
        s = Structure.from_str(row.cif, fmt="cif")
        assert s.composition.reduced_formula == Composition(row.formula).reduced_formula


def test_csp_bad_input_is_a_clean_error(tmp_path: Path) -> None:
    res = CliRunner().invoke(app, ["csp", "--model", "template", "--input",
                                   str(tmp_path / "missing.csv"), "--out", str(tmp_path / "o.csv")])
    assert res.exit_code != 0
    assert "no such file" in str(res.exception) or "no such file" in res.output
