import subprocess
import sys

import pytest
from typer.testing import CliRunner

from matforge.cli import app

runner = CliRunner()


def _matforge(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "matforge.cli", *args], capture_output=True, text=True, check=False)


def test_every_command_has_help():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("data", "design", "generate", "train"):
        assert command in result.output
        assert runner.invoke(app, [command, "--help"]).exit_code == 0


def test_data_list_and_info():
    result = runner.invoke(app, ["data", "list"])
    assert result.exit_code == 0 and "mp-transport" in result.output
    result = runner.invoke(app, ["data", "info", "mp-transport"])
    assert result.exit_code == 0 and "47737" in result.output


@pytest.mark.parametrize("content", ["formula\nXx3\n", ""])
def test_user_error_is_one_line_and_exit_2(tmp_path, content):
    bad = tmp_path / "bad.csv"
    bad.write_text(content)
    proc = _matforge("data", "info", str(bad))
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("error:") and "Traceback" not in proc.stderr
    assert str(bad) in proc.stderr


def test_generate_writes_formula_csv(tmp_path):
    from matforge.data import load_dataset
    from matforge.generators.composition.substitution import SubstitutionGenerator

    SubstitutionGenerator().fit(load_dataset("mp-transport", split="train").head(3000)).save(tmp_path / "m")
    out = tmp_path / "g.csv"
    proc = _matforge("generate", "--model", str(tmp_path / "m"), "-n", "200", "--seed", "1",
                     "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    import pandas as pd

    frame = pd.read_csv(out, keep_default_na=False)
    assert len(frame) > 150 and "formula" in frame.columns
