"""The `matforge evaluate` report: metric table, distributions against the test set, element
frequencies on a periodic table, and a 3D view of a few structures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from matforge.report.html import Report, element_counts

METRIC_LABELS = {
    "n": "samples", "structural_validity": "structural validity",
    "compositional_validity": "compositional validity (SMACT, alloys valid)",
    "compositional_validity_strict": "compositional validity (alloys invalid)",
    "validity": "validity (structure and composition)", "uniqueness": "uniqueness",
    "novelty": "novelty", "cov_recall": "COV-R", "cov_precision": "COV-P",
    "wdist_density": "Wasserstein distance, density (g/cm³)",
    "wdist_num_elements": "Wasserstein distance, number of elements",
    "match_rate": "CSP match rate (1 sample)", "rmse": "CSP RMSE / (V/N)^(1/3)",
    "sun_rate": "S.U.N. rate", "recovery": "recovery of the test set",
    "hhi_production": "HHI production (mean)", "hhi_reserve": "HHI reserve (mean)",
}


def _hist_pair(samples: np.ndarray, test: np.ndarray | None, title: str, xlabel: str) -> go.Figure:
    fig = go.Figure()
    fig.add_trace(go.Histogram(x=samples.tolist(), name="samples", histnorm="probability density",
                               opacity=0.6))
    if test is not None and len(test):
        fig.add_trace(go.Histogram(x=np.asarray(test, float).tolist(), name="test set",
                                   histnorm="probability density", opacity=0.6))
    fig.update_layout(title=title, barmode="overlay", height=350, xaxis_title=xlabel,
                      yaxis_title="density", margin={"t": 40})
    return fig


def build_evaluation_report(result: Any, path: str | Path, inputs: dict[str, str] | None = None,
                            n_structures: int = 4) -> Path:
    """Write report.html for an `EvaluationResult`."""
    report = Report("matforge evaluation")
    if inputs:
        report.paragraph("; ".join(f"{k}: {v}" for k, v in inputs.items() if v))
    report.heading("Metrics")
    rows = [{"metric": METRIC_LABELS.get(k, k), "key": k,
             "value": "n/a" if v is None else (f"{v:.4g}" if isinstance(v, float) else str(v))}
            for k, v in result.metrics.items()]
    extra = result.details
    if "critical_or_toxic_free" in extra:
        rows.append({"metric": "share free of listed critical or toxic elements",
                     "key": "critical_or_toxic_free",
                     "value": f"{extra['critical_or_toxic_free']:.4g}"})
    if extra.get("csp"):
        csp = extra["csp"]
        for key in ("match_rate_best_of_k", "rmse_best_of_k"):
            v = csp.get(key)
            rows.append({"metric": f"CSP {key.replace('_', ' ')} (k={csp['k']})", "key": key,
                         "value": "n/a" if v is None else f"{v:.4g}"})
    report.table(pd.DataFrame(rows))

    ps = result.per_sample
    report.heading("Property distributions")
    dens = ps["density"].to_numpy(float)
    dens = dens[np.isfinite(dens)]
    if dens.size:
        report.figure(_hist_pair(dens, result.test_density, "Density", "density (g/cm³)"))
    report.figure(_hist_pair(ps["num_elements"].to_numpy(float), result.test_num_elements,
                             "Number of distinct elements", "elements"))
    if extra.get("recovery_curve"):
        m, frac = zip(*extra["recovery_curve"])
        fig = go.Figure(go.Scatter(x=list(m), y=list(frac), mode="lines+markers"))
        fig.update_layout(title="Recovery of the test set", xaxis_type="log", height=320,
                          xaxis_title="number of samples", yaxis_title="fraction recovered")
        report.figure(fig)

    report.heading("Elements")
    report.periodic_table(element_counts(ps["formula"].tolist()),
                          "Samples containing each element")

    structures = [(i, s) for i, s in enumerate(result.structures) if s is not None]
    if structures:
        report.heading("Structures")
        chosen = structures[:n_structures]
        report.structures([s for _, s in chosen],
                          [f"#{i} {s.composition.reduced_formula}" for i, s in chosen])

    report.heading("Invalid samples")
    bad = ps[(ps["composition_reason"] != "") | (ps["structure_reason"] != "")]
    if len(bad):
        report.table(bad[["formula", "composition_reason", "structure_reason"]].reset_index(),
                     max_rows=50)
    else:
        report.paragraph("none")
    return report.write(path)
