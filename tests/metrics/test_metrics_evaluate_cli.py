"""`matforge evaluate` end to end on real Perov-5 structures: files, keys, report in Chromium."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from matforge.metrics import METRIC_KEYS
from matforge.report.browser import check_html, find_chromium


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory, fixture_data):
    from matforge.cli import app

    tmp = tmp_path_factory.mktemp("evaluate")
    # the first rows of the published splits, committed under tests/data/fixtures
    test = fixture_data.load("perov-5", split="test").iloc[:6]
    val = fixture_data.load("perov-5", split="val").iloc[:20]
    samples = pd.concat([test.iloc[:3], val.iloc[:2], test.iloc[:1]])[["formula", "cif"]]
    samples["e_above_hull"] = [0.0, 0.02, 0.3, 0.0, 0.05, 0.0]
    samples.to_csv(tmp / "samples.csv", index=False)
    val.to_csv(tmp / "ref.csv", index=False)
    test.to_csv(tmp / "test.csv", index=False)
    out = tmp / "out"
    result = CliRunner().invoke(app, [
        "evaluate", str(tmp / "samples.csv"), "--reference", str(tmp / "ref.csv"),
        "--test", str(tmp / "test.csv"), "--targets", str(tmp / "test.csv"), "--out", str(out),
        "--jobs", "1"])
    assert result.exit_code == 0, result.output
    return out


def test_metrics_json_has_issue_keys(evaluated):
    metrics = json.loads((evaluated / "metrics.json").read_text())
    assert set(METRIC_KEYS) <= set(metrics)
    assert metrics["n"] == 6
    for key in ("structural_validity", "uniqueness", "novelty", "cov_recall", "cov_precision",
                "match_rate", "sun_rate", "recovery"):
        assert 0.0 <= metrics[key] <= 1.0, key
    assert metrics["uniqueness"] == pytest.approx(5 / 6)  # the repeated test structure
    assert metrics["novelty"] == pytest.approx(4 / 6)  # two rows come from the reference
    assert metrics["recovery"] == pytest.approx(3 / 6)  # 3 of 6 test structures sampled
    assert metrics["match_rate"] == pytest.approx(3 / 6) and metrics["rmse"] < 1e-6
    # stable, unique and novel: rows 0 and 1 (row 2 unstable, 3-4 known, 5 duplicate)
    assert metrics["sun_rate"] == pytest.approx(2 / 6)


def test_per_sample_rows(evaluated):
    ps = pd.read_csv(evaluated / "per_sample.csv", keep_default_na=False)
    assert len(ps) == 6
    assert {"compositional_validity", "composition_reason", "structural_validity",
            "structure_reason", "unique", "novel", "sun"} <= set(ps.columns)


@pytest.mark.skipif(find_chromium() is None,
                    reason="chromium not installed (apt-get install chromium)")
def test_report_renders_without_errors(evaluated):
    check = check_html(evaluated / "report.html")
    assert check.checked and check.n_plots >= 5
    assert check.errors == [] and check.empty_plots == []


def test_missing_input_is_a_clear_error(tmp_path):
    from matforge.cli import app

    result = CliRunner().invoke(app, ["evaluate", str(tmp_path / "nope.csv"),
                                      "--out", str(tmp_path / "o")])
    assert result.exit_code != 0
    assert "input not found" in str(result.exception)
