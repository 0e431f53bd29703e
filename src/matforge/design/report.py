"""Campaign outputs, written from the store alone (so a resumed campaign writes the same):

- `evaluations.csv`: one row per oracle evaluation, in order;
- `candidates.csv` and `cifs/`: the ranked candidates (feasible first, `results`);
- `summary.json`: counts, best, stability and S.U.N. counts, novelty reference, timings;
- `report.html`: self-contained (offline plotly): funnel, the surrogate's calibration when
  the campaign screens with one, each candidate's synthesizability, the surrogate's reasons
  for the top candidates (exact TreeSHAP, per feature group), stability counts and hull
  diagrams of the top candidates' chemical systems, the ranked table, best-so-far and Pareto
  plots, 3D structures.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from pymatgen.core import Composition, Structure

from matforge.design import explanations, results
from matforge.design.objectives import hypervolume, pareto_mask
from matforge.design.spec import CampaignSpec, OracleSpec
from matforge.design.store import CampaignStore
from matforge.report.html import Report, element_counts

TABLE_COLUMNS = ("rank", "formula", "feasible", "e_above_hull", "decomposition",
                 "formation_energy_per_atom", "synthesizability", "parent", "reason")
HULL_PLOTS = 3  # chemical systems drawn in the report


def stability_stage(spec: CampaignSpec) -> OracleSpec | None:
    """The campaign's CHGNet/SevenNet oracle (alone or in a chain), if it has one."""
    stages = spec.oracle.stages if spec.oracle.kind == "chain" else [spec.oracle]
    return next((s for s in stages if s.kind in ("chgnet", "sevennet")), None)


def write_outputs(store: CampaignStore, spec: CampaignSpec, out: Path) -> dict[str, Any]:
    frame = results.evaluations_frame(store, spec)
    frame.to_csv(out / "evaluations.csv", index=False)
    ranked = explanations.with_synthesizability(results.rank_candidates(frame, spec))
    final = ranked.head(spec.n_final) if spec.n_final else ranked
    _write_candidates(final, out)
    summary = _summary(store, spec, frame, ranked, final, out)
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    (out / "report.html").write_text(render_html(frame, final, spec, store, summary))
    summary["report"] = str(out / "report.html")
    return summary


def _write_candidates(final: pd.DataFrame, out: Path) -> None:
    lead = [c for c in ("rank", "formula", "feasible") if c in final.columns]
    cols = lead + [c for c in final.columns if c not in lead and c != "cif"]
    cols += ["cif"] if "cif" in final.columns else []
    final[cols].to_csv(out / "candidates.csv", index=False)
    if "cif" not in final.columns:
        return
    folder = out / "cifs"
    folder.mkdir(exist_ok=True)
    for rank, formula, cif in zip(final["rank"], final["formula"], final["cif"]):
        if isinstance(cif, str) and cif.strip():
            (folder / f"{int(rank):03d}_{formula}.cif").write_text(cif)


def _summary(store: CampaignStore, spec: CampaignSpec, frame: pd.DataFrame,
             ranked: pd.DataFrame, final: pd.DataFrame, out: Path) -> dict[str, Any]:
    summary: dict[str, Any] = {
        "out": str(out), "evaluations": len(frame),
        "ok": int((frame["status"] == "ok").sum()) if len(frame) else 0,
        "ranked": len(final), "evaluations_csv": str(out / "evaluations.csv"),
        "candidates_csv": str(out / "candidates.csv"), "store": str(out / "campaign.sqlite"),
        "filter_verdicts": store.verdict_counts(), "stopped": store.get_meta("stopped"),
        "novelty_reference": store.get_meta("novelty_reference"),
        "preset": store.get_meta("preset_summary")}
    U = results.utilities_of(ranked, spec)
    if len(spec.objectives) == 1 and len(ranked) and np.isfinite(U).any():
        name = spec.objectives[0].name
        summary["best"] = {"formula": ranked["formula"].iloc[0], name: ranked[name].iloc[0]}
    elif len(ranked):
        finite = np.all(np.isfinite(U), axis=1)
        if finite.any():
            summary["hypervolume"] = hypervolume(U[finite], np.nanmin(U[finite], axis=0) - 1e-9)
            summary["pareto_size"] = int(pareto_mask(U[finite]).sum())
    if "likely_synthesizable" in final.columns:
        summary["synthesizability"] = {
            "model": "synthesizability (shipped PU model)",
            "median": float(final["synthesizability"].median()),
            "likely_synthesizable": int(final["likely_synthesizable"].sum())}
    if "e_above_hull" in ranked.columns:
        from matforge.data.known import known_compositions

        known = known_compositions()
        summary["stability"] = results.stability_summary(final, known)
        summary["stability_all_evaluated"] = results.stability_summary(ranked, known)
        for key in ("potential", "hull_source"):
            if key in ranked.columns and ranked[key].notna().any():
                summary[key] = str(ranked[key].dropna().iloc[0])
    return summary


def render_html(frame: pd.DataFrame, final: pd.DataFrame, spec: CampaignSpec,
                store: CampaignStore, summary: dict[str, Any]) -> str:
    report = Report("matforge design campaign")
    _intro(report, spec, summary)
    _funnel(report, store, frame)
    preset = store.get_meta("preset_summary")
    if preset and preset.get("surrogate"):
        _surrogate(report, preset["surrogate"])
    if summary.get("stability"):
        _stability(report, final, spec, summary)
    if len(final):
        report.heading("Ranked candidates")
        cols = [c for c in (*TABLE_COLUMNS[:3], *[o.name for o in spec.objectives],
                            *[f"{o.name}_std" for o in spec.objectives], *TABLE_COLUMNS[3:])
                if c in final.columns]
        filled = [c for c in cols if (final[c].notna() & (final[c].astype(str) != "")).any()]
        report.table(final[filled], fit=True)  # empty columns (no failures) left out
        _reasons(report, final, spec)
    if len(frame):
        _progress(report, frame, spec)
    _structures(report, final)
    latent = store.get_meta("latent_map")
    if latent:
        _latent(report, latent)
    report.heading("Spec").preformatted(spec.to_yaml())
    return report.to_html()


def _intro(report: Report, spec: CampaignSpec, summary: dict[str, Any]) -> None:
    goals = ", ".join(o.describe() for o in spec.objectives)
    text = (f"Objectives: {goals}. {summary['evaluations']} oracle evaluations, "
            f"{summary['ok']} successful, {summary['ranked']} ranked candidates.")
    if spec.outcome_constraints:
        text += (" Candidates meeting " + " and ".join(c.describe() for c in
                                                       spec.outcome_constraints)
                 + " are ranked first, then by the objective.")
    if summary.get("novelty_reference"):
        text += f" Novelty checked against {summary['novelty_reference']}."
    if summary.get("stopped"):
        text += f" Stopped early: {summary['stopped']}."
    report.paragraph(text)


def _funnel(report: Report, store: CampaignStore, frame: pd.DataFrame) -> None:
    reasons = store.rejection_reasons()
    if not reasons and not len(frame):
        return
    report.heading("Funnel")
    rows = [{"stage": "proposals checked", "candidates": sum(reasons.values())}]
    rows += [{"stage": f"rejected: {r}", "candidates": n} for r, n in reasons.most_common(8)]
    if len(frame):
        rows.append({"stage": "sent to the oracle", "candidates": len(frame)})
        rows.append({"stage": "oracle succeeded", "candidates": int((frame["status"] == "ok").sum())})
    report.table(pd.DataFrame(rows))


def _surrogate(report: Report, sur: dict[str, Any]) -> None:
    report.heading("Surrogate accuracy and calibration (held-out test split)")
    report.table(pd.DataFrame([{
        "target": sur["target"], "train rows": sur["train_rows"], "test rows": sur["test_rows"],
        "test MAE": round(sur["test_mae"], 4),
        "68% interval coverage": round(sur["test_coverage_68"], 3),
        "95% interval coverage": round(sur["test_coverage_95"], 3)}]))


def _stability(report: Report, final: pd.DataFrame, spec: CampaignSpec,
               summary: dict[str, Any]) -> None:
    st = summary["stability"]
    report.heading("Stability against competing phases")
    report.paragraph(f"Hull: {summary.get('hull_source', '')}; energies from "
                     f"{summary.get('potential', '')}. S.U.N.: within 0.1 eV/atom of the hull, "
                     "unique and novel against the reference above.")
    report.table(pd.DataFrame([{"candidates": st["n"], "on or below the hull": st["stable"],
                                "within 0.1 eV/atom": st["metastable"], "novel": st["novel"],
                                "S.U.N.": st["sun"], "S.U.N. rate": round(st["sun_rate"], 3)}]))
    stage = stability_stage(spec)
    if stage is None:
        return
    shown = 0
    for _, row in final.iterrows():
        elements = [str(e) for e in Composition(row["formula"]).elements]
        if shown >= HULL_PLOTS or not 2 <= len(elements) <= 4 or \
                not np.isfinite(pd.to_numeric(row.get("corrected_energy_per_atom"),
                                              errors="coerce")):
            continue
        fig = hull_figure(stage, row["formula"], float(row["corrected_energy_per_atom"]))
        if fig is not None:
            report.heading(f"Hull of {'-'.join(sorted(elements))} with #{row['rank']} "
                           f"{row['formula']}", level=3)
            report.paragraph(f"Energy above the hull {row['e_above_hull']:.3f} eV/atom; "
                             f"decomposes to {row.get('decomposition') or 'itself'}.")
            report.figure(fig)
            shown += 1


def hull_figure(stage: OracleSpec, formula: str, energy: float) -> go.Figure | None:
    """pymatgen's phase diagram plot (plotly) of a candidate's system, candidate included."""
    from pymatgen.analysis.phase_diagram import PDEntry, PDPlotter, PhaseDiagram

    from matforge.oracles.hull import make_hull

    try:
        hull = make_hull(stage.options.get("hull") or "auto", stage.kind, progress=False)
        pd_known, _ = hull.diagram([str(e) for e in Composition(formula).elements])
        comp = Composition(formula)
        cand = PDEntry(comp, energy * comp.num_atoms, name=f"{formula} (candidate)")
        diagram = PhaseDiagram([*pd_known.all_entries, cand])
        fig = PDPlotter(diagram, backend="plotly", show_unstable=0.2).get_plot()
    except Exception:  # noqa: BLE001 - a plot that cannot be drawn leaves the report intact
        return None
    fig.update_layout(height=480, width=None, autosize=True)
    return fig


def _reasons(report: Report, final: pd.DataFrame, spec: CampaignSpec) -> None:
    explained = explanations.explain_top(final, spec)
    if explained is None:
        return
    report.heading("Why the surrogate ranks them", level=3)
    report.paragraph("Exact TreeSHAP attributions of the screening surrogate, summed per "
                     "elemental property (its Magpie statistics), stoichiometry and atomic "
                     "fractions: base value + attributions = prediction. Synthesizability "
                     "(in the table above) is the shipped PU model's score, 0-1.")
    report.table(explained["table"], fit=True)
    report.figure(explanations.importance_figure(explained))


def _progress(report: Report, frame: pd.DataFrame, spec: CampaignSpec) -> None:
    U = results.utilities_of(frame, spec)
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
    finite = np.all(np.isfinite(U), axis=1)
    if len(spec.objectives) >= 2 and finite.any():
        front = pareto_mask(U[finite][:, :2])
        hv = hypervolume(U[finite], U[finite].min(axis=0) - 1e-9)
        report.heading("Pareto front")
        report.paragraph(f"Hypervolume (utilities, reference = worst observed): {hv:.4g}; "
                         f"{int(front.sum())} non-dominated.")
        names = [n for n, f in zip(frame["formula"], finite) if f]
        report.figure(_scatter(U[finite][:, :2], front, names, "evaluated candidates "
                               "(utilities)", spec.objectives[0].describe(),
                               spec.objectives[1].describe(), "Pareto front", "dominated"))
    report.heading("Elements in the evaluated candidates")
    report.periodic_table(element_counts(list(frame["formula"])), "candidates per element")


def _structures(report: Report, final: pd.DataFrame, n: int = 6) -> None:
    if "cif" not in final.columns:
        return
    shown = [i for i in range(len(final)) if isinstance(final["cif"].iloc[i], str)][:n]
    if shown:
        report.heading("Structures of the top candidates (as the oracle left them)")
        report.structures([Structure.from_str(final["cif"].iloc[i], fmt="cif") for i in shown],
                          [f"#{final['rank'].iloc[i]} {final['formula'].iloc[i]}"
                           for i in shown])


def _latent(report: Report, latent: dict[str, Any]) -> None:
    pts = np.asarray(latent.get("points", []), dtype=float)
    if pts.ndim == 2 and len(pts):
        seen = np.asarray(latent.get("evaluated", [False] * len(pts)), dtype=bool)
        report.heading("Latent map")
        report.figure(_scatter(pts[:, :2], seen, [""] * len(pts), "VAE latent space",
                               "z1", "z2", "evaluated", "candidates"))


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
