"""The HTML report is one offline file and renders every plot without errors in Chromium."""

from __future__ import annotations

import re

import pandas as pd
import plotly.graph_objects as go
import pytest
from pymatgen.core import Lattice, Structure

from matforge.report import Report, element_counts
from matforge.report.browser import check_html, find_chromium

needs_chromium = pytest.mark.skipif(
    find_chromium() is None, reason="chromium not installed (apt-get install chromium)")


def _structures() -> list[Structure]:
    nacl = Structure(Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    perov = Structure(Lattice.cubic(3.9), ["Sr", "Ti", "O", "O", "O"],
                      [[0, 0, 0], [.5, .5, .5], [.5, .5, 0], [.5, 0, .5], [0, .5, .5]])
    return [nacl, perov]


def _full_report() -> Report:
    r = Report("test <report>")
    r.heading("Metrics").paragraph("a < b & c")
    r.table(pd.DataFrame({"metric": ["validity", "novelty"], "value": [0.91, 0.5]}))
    r.figure(go.Figure(go.Histogram(x=[1.0, 2.0, 2.5, 3.0])))
    r.structures(_structures(), ["NaCl", "SrTiO3"])
    r.periodic_table(element_counts(["NaCl", "SrTiO3", "NaNO3"]), "elements")
    return r


def test_report_is_self_contained(tmp_path):
    path = _full_report().write(tmp_path / "r.html")
    text = path.read_text()
    assert text.count("<script type=\"text/javascript\">") == 1  # plotly.js inline exactly once
    assert not re.search(r"<script[^>]+src=", text)  # nothing loaded from elsewhere
    assert "test &lt;report&gt;" in text and "a &lt; b &amp; c" in text
    assert text.count('class="mf-fig"') == 4  # histogram, two structures, periodic table


def test_table_truncates(tmp_path):
    r = Report("t").table(pd.DataFrame({"x": range(30)}), max_rows=10)
    text = r.to_html()
    assert text.count("<tr") == 11 and "first 10 of 30 rows" in text


def test_element_counts_presence():
    assert element_counts(["NaCl", "Na2O", "NaNO3"]) == {"Na": 3, "Cl": 1, "O": 2, "N": 1}


def test_structures_label_mismatch():
    with pytest.raises(ValueError):
        Report("t").structures(_structures(), ["one"])


@needs_chromium
def test_report_renders_in_chromium(tmp_path):
    check = check_html(_full_report().write(tmp_path / "r.html"))
    assert check.checked and check.n_plots == 4
    assert check.errors == [] and check.empty_plots == []


@needs_chromium
def test_chromium_check_catches_errors_and_empty_plots(tmp_path):
    r = _full_report()
    r.figure(go.Figure(go.Scatter(x=[], y=[])))
    r._parts.append("<script>undefined_function_call();</script>")
    check = check_html(r.write(tmp_path / "bad.html"))
    assert check.empty_plots == ["mf-fig-5"]
    assert any("undefined_function_call" in e for e in check.errors)
    assert not check.ok
