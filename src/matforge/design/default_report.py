"""The HTML report of the default campaign: what was proposed, why, and how sure we are."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from matforge.candidate import Candidate
from matforge.report.html import Report, element_counts


def write_default_report(path: Path, final: list[Candidate], screened: list[Candidate],
                         train_objective: np.ndarray, summary: dict[str, Any], cfg: Any) -> Path:
    obj = cfg.objective
    target = f"log10_{obj}"
    report = Report(f"matforge design: high {obj} candidates")
    sur = summary["surrogate"]
    report.paragraph(
        f"Data set {cfg.dataset}; objective: maximise {obj} (p-type power factor, µW/(cm K²), "
        f"BoltzTraP at 300 K and 1e20 cm⁻³). Seed {cfg.seed}. {len(final)} ranked candidates, each "
        "charge-neutral and electronegativity-balanced by SMACT, absent from the data set, with a "
        "template structure relaxed by CHGNet. Ranked by negative formation energy first, then by "
        f"the upper confidence bound of the predicted {target} (kappa {cfg.kappa}).")
    report.heading("Funnel")
    counts = summary["counts"]
    report.table(pd.DataFrame({"stage": list(counts), "candidates": list(counts.values())}))
    report.heading("Surrogate accuracy and calibration (held-out test split)")
    report.table(pd.DataFrame([{
        "target": target, "train rows": sur["train_rows"], "test rows": sur["test_rows"],
        "test MAE": round(sur["test_mae"], 4),
        "68% interval coverage": round(sur["test_coverage_68"], 3),
        "95% interval coverage": round(sur["test_coverage_95"], 3)}]))

    report.heading("Ranked candidates")
    cols = ["rank", "formula", f"pred_{obj}", f"pred_{target}", f"pred_{target}_std",
            "acquisition_ucb", "formation_energy_per_atom", "energy_per_atom", "prototype",
            "relax_converged", "prov_parent"]
    rows = []
    for c in final:
        row = {**c.scores, "formula": c.formula, "prov_parent": c.provenance.get("parent", "")}
        rows.append({k: _round(row.get(k)) for k in cols})
    report.table(pd.DataFrame(rows, columns=cols))

    report.heading("Prediction and uncertainty of every screened candidate")
    fig = go.Figure()
    fig.add_trace(go.Scattergl(
        x=[c.scores[f"pred_{target}"] for c in screened],
        y=[c.scores[f"pred_{target}_std"] for c in screened], mode="markers",
        name="passed the filters", marker={"color": "lightgray", "size": 5},
        text=[c.formula for c in screened]))
    fig.add_trace(go.Scatter(
        x=[c.scores[f"pred_{target}"] for c in final],
        y=[c.scores[f"pred_{target}_std"] for c in final], mode="markers",
        name="ranked candidates", text=[c.formula for c in final],
        marker={"size": 9, "color": [c.scores["formation_energy_per_atom"] for c in final],
                "colorscale": "RdBu_r", "cmid": 0, "colorbar": {"title": "E_form (eV/atom)"}}))
    fig.update_layout(xaxis_title=f"predicted {target}", yaxis_title="calibrated std",
                      height=460, legend={"orientation": "h"})
    report.figure(fig)

    report.heading(f"Candidates against the training distribution of {obj}")
    hist = go.Figure()
    hist.add_trace(go.Histogram(x=np.log10(train_objective), name="training data",
                                histnorm="probability density", opacity=0.6, nbinsx=60))
    hist.add_trace(go.Histogram(x=[c.scores[f"pred_{target}"] for c in final],
                                name="ranked candidates (predicted)",
                                histnorm="probability density", opacity=0.7, nbinsx=30))
    hist.update_layout(barmode="overlay", xaxis_title=target, height=400)
    report.figure(hist)

    report.heading("Stability against predicted performance")
    stab = go.Figure(go.Scatter(
        x=[c.scores["formation_energy_per_atom"] for c in final],
        y=[c.scores[f"pred_{target}"] for c in final], mode="markers+text",
        text=[c.formula for c in final], textposition="top center",
        error_y={"type": "data", "array": [c.scores[f"pred_{target}_std"] for c in final]}))
    stab.update_layout(xaxis_title="CHGNet formation energy (eV/atom)",
                       yaxis_title=f"predicted {target}", height=480)
    report.figure(stab)

    report.heading("Elements in the ranked candidates")
    report.periodic_table(element_counts([c.formula for c in final]), "candidates per element")
    top = [c for c in final if c.structure is not None][:6]
    if top:
        report.heading("Top structures (CHGNet-relaxed)")
        report.structures([c.structure for c in top],
                          [f"#{c.scores['rank']} {c.formula}" for c in top])
    return report.write(path)


def _round(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 4)
    return value
