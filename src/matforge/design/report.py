"""Campaign outputs: evaluations.csv (one row per oracle evaluation, in order) and a
self-contained report.html (best-so-far curve, Pareto front and hypervolume, top candidates
with 3D structures, latent map), built with matforge.report's offline plotly builder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from pymatgen.core import Structure

from matforge.design.objectives import hypervolume, pareto_mask
from matforge.design.spec import CampaignSpec
from matforge.design.store import CampaignStore
from matforge.report.html import Report


def evaluations_frame(store: CampaignStore, spec: CampaignSpec) -> pd.DataFrame:
    rows = []
    names = [o.name for o in spec.objectives]
    for e in store.evaluations():
        row: dict[str, Any] = {"step": e["step"], "formula": e["formula"]}
        for n in names:
            row[n] = e["values"].get(n)
        row["strategy"] = e["strategy"]
        row["status"] = e["status"]
        for k, v in e["values"].items():
            if k not in names:
                row[k] = v
        # the structure the oracle ended with (relaxed), else the one it was given
        row.update({"reason": e["reason"] or "", "seconds": e["seconds"],
                    "attempts": e["attempts"], "cif": e["result_cif"] or e["cif"]})
        rows.append(row)
    frame = pd.DataFrame(rows, columns=None if rows else
                         ["step", "formula", *names, "strategy", "status"])
    if "cif" in frame.columns and frame["cif"].isna().all():
        frame = frame.drop(columns=["cif"])
    return frame


def utilities_of(frame: pd.DataFrame, spec: CampaignSpec) -> np.ndarray:
    cols = []
    for o in spec.objectives:
        v = pd.to_numeric(frame[o.name], errors="coerce").to_numpy(dtype=float) \
            if o.name in frame.columns else np.full(len(frame), np.nan)
        cols.append(o.utility(v))
    return np.stack(cols, axis=1) if cols else np.zeros((len(frame), 0))


def write_outputs(store: CampaignStore, spec: CampaignSpec, out: Path) -> dict[str, Any]:
    frame = evaluations_frame(store, spec)
    csv_path = out / "evaluations.csv"
    frame.to_csv(csv_path, index=False)
    U = utilities_of(frame, spec)
    summary: dict[str, Any] = {"out": str(out), "evaluations": len(frame),
                               "ok": int((frame["status"] == "ok").sum()) if len(frame) else 0,
                               "evaluations_csv": str(csv_path),
                               "store": str(out / "campaign.sqlite")}
    if len(spec.objectives) == 1 and len(frame):
        u = U[:, 0]
        if np.isfinite(u).any():
            best = int(np.nanargmax(np.where(np.isfinite(u), u, -np.inf)))
            summary["best"] = {"formula": frame["formula"].iloc[best],
                               spec.objectives[0].name: float(frame[spec.objectives[0].name]
                                                              .iloc[best])}
    elif len(frame):
        finite = np.all(np.isfinite(U), axis=1)
        if finite.any():
            ref = np.nanmin(U[finite], axis=0) - 1e-9
            summary["hypervolume"] = hypervolume(U[finite], ref)
            summary["pareto_size"] = int(pareto_mask(U[finite]).sum())
    report = out / "report.html"
    report.write_text(render_html(frame, U, spec, store))
    summary["report"] = str(report)
    return summary


def _scatter(points: np.ndarray, highlight: np.ndarray, names: list[str], title: str,
             xlabel: str, ylabel: str, marked: str, rest: str) -> go.Figure:
    """Two-trace scatter: the highlighted points in red over the others."""
    fig = go.Figure()
    for mask, label, colour in ((~highlight, rest, "#1f77b4"), (highlight, marked, "#d62728")):
        if mask.any():
            fig.add_trace(go.Scatter(x=points[mask, 0], y=points[mask, 1], mode="markers",
                                     name=label, marker={"color": colour, "size": 7},
                                     text=[n for n, m in zip(names, mask) if m]))
    fig.update_layout(title=title, xaxis_title=xlabel, yaxis_title=ylabel, height=420)
    return fig


def render_html(frame: pd.DataFrame, U: np.ndarray, spec: CampaignSpec,
                store: CampaignStore, n_structures: int = 6) -> str:
    """The campaign report: spec, best-so-far curves, Pareto front and hypervolume, the top
    candidates with 3D views of their (relaxed) structures, and the latent map if any."""
    report = Report("matforge design campaign")
    report.heading("Spec").preformatted(spec.to_yaml())
    report.paragraph(f"{len(frame)} oracle evaluations; filter verdicts: "
                     f"{json.dumps(store.verdict_counts())}.")
    names = list(frame["formula"]) if len(frame) else []
    if len(frame):
        report.heading("Best so far")
        fig = go.Figure()
        for j, o in enumerate(spec.objectives):
            u = np.where(np.isfinite(U[:, j]), U[:, j], -np.inf)
            best = np.maximum.accumulate(u)
            fig.add_trace(go.Scatter(x=np.arange(1, len(best) + 1),
                                     y=np.where(np.isfinite(best), best, np.nan),
                                     mode="lines", name=f"{o.describe()} (utility)"))
        fig.update_layout(xaxis_title="oracle evaluations", yaxis_title="best utility so far",
                          height=380)
        report.figure(fig)
        if len(spec.objectives) >= 2:
            finite = np.all(np.isfinite(U), axis=1)
            if finite.any():
                front = pareto_mask(U[finite][:, :2])
                hv = hypervolume(U[finite], U[finite].min(axis=0) - 1e-9)
                report.heading("Pareto front")
                report.paragraph(f"Hypervolume (utilities, reference = worst observed): "
                                 f"{hv:.4g}; {int(front.sum())} non-dominated.")
                report.figure(_scatter(U[finite][:, :2], front,
                                       [n for n, f in zip(names, finite) if f],
                                       "evaluated candidates (utilities)",
                                       spec.objectives[0].describe(),
                                       spec.objectives[1].describe(), "Pareto front",
                                       "dominated"))
        order = np.argsort(-np.nan_to_num(U.sum(axis=1), nan=-np.inf))[:20]
        cols = ["step", "formula", *[o.name for o in spec.objectives], "strategy", "status"]
        report.heading("Top candidates")
        report.table(frame.iloc[order][[c for c in cols if c in frame.columns]])
        if "cif" in frame.columns:
            shown = [i for i in order if isinstance(frame["cif"].iloc[i], str)][:n_structures]
            if shown:
                report.heading("Structures of the top candidates (as the oracle left them)")
                report.structures([Structure.from_str(frame["cif"].iloc[i], fmt="cif")
                                   for i in shown],
                                  [f"{frame['formula'].iloc[i]} (step {frame['step'].iloc[i]})"
                                   for i in shown])
    latent = store.get_meta("latent_map")
    if latent:
        pts = np.asarray(latent.get("points", []), dtype=float)
        if pts.ndim == 2 and len(pts):
            seen = np.asarray(latent.get("evaluated", [False] * len(pts)), dtype=bool)
            report.heading("Latent map")
            report.figure(_scatter(pts[:, :2], seen, [""] * len(pts), "VAE latent space",
                                   "z1", "z2", "evaluated", "candidates"))
    return report.to_html()
