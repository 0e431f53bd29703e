"""Campaign outputs: evaluations.csv (one row per oracle evaluation, in order) and a small
self-contained report.html (best-so-far curve, Pareto front and hypervolume, top candidates).
Plots are inline SVG so the report opens offline with no JavaScript."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from matforge.design.objectives import hypervolume, pareto_mask
from matforge.design.spec import CampaignSpec
from matforge.design.store import CampaignStore


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


def _svg_line(ys: list[np.ndarray], labels: list[str], title: str, xlabel: str,
              ylabel: str, scatter: bool = False, highlight: np.ndarray | None = None) -> str:
    w, h, pad = 560, 320, 50
    xs_all = [np.arange(1, len(y) + 1) for y in ys] if not scatter else [ys[0]]
    if scatter:
        pts = ys[0]
        x, y = pts[:, 0], pts[:, 1]
    else:
        x = np.concatenate(xs_all) if xs_all else np.zeros(0)
        y = np.concatenate(ys) if ys else np.zeros(0)
    ok = np.isfinite(x) & np.isfinite(y)
    if not ok.any():
        return f"<p>{html.escape(title)}: no finite values yet.</p>"
    x0, x1 = float(x[ok].min()), float(x[ok].max())
    y0, y1 = float(y[ok].min()), float(y[ok].max())
    x1, y1 = (x1 if x1 > x0 else x0 + 1), (y1 if y1 > y0 else y0 + 1)

    def px(a: float) -> float:
        return pad + (a - x0) / (x1 - x0) * (w - 2 * pad)

    def py(b: float) -> float:
        return h - pad - (b - y0) / (y1 - y0) * (h - 2 * pad)

    parts = [f'<svg width="{w}" height="{h}" xmlns="http://www.w3.org/2000/svg">',
             (f'<rect x="{pad}" y="{pad}" width="{w-2*pad}" height="{h-2*pad}" fill="none" '
              'stroke="#999"/>'),
             f'<text x="{w/2}" y="20" text-anchor="middle">{html.escape(title)}</text>',
             f'<text x="{w/2}" y="{h-10}" text-anchor="middle">{html.escape(xlabel)}</text>',
             (f'<text x="12" y="{h/2}" transform="rotate(-90 12 {h/2})" text-anchor="middle">'
              f'{html.escape(ylabel)}</text>'),
             f'<text x="{pad}" y="{h-pad+15}" font-size="10">{x0:.3g}</text>',
             f'<text x="{w-pad}" y="{h-pad+15}" font-size="10" text-anchor="end">{x1:.3g}</text>',
             f'<text x="{pad-4}" y="{h-pad}" font-size="10" text-anchor="end">{y0:.3g}</text>',
             f'<text x="{pad-4}" y="{pad+4}" font-size="10" text-anchor="end">{y1:.3g}</text>']
    colours = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"]
    if scatter:
        for i, (a, b) in enumerate(zip(x, y)):
            if np.isfinite(a) and np.isfinite(b):
                c = "#d62728" if highlight is not None and highlight[i] else "#1f77b4"
                parts.append(f'<circle cx="{px(a):.1f}" cy="{py(b):.1f}" r="3" fill="{c}"/>')
    else:
        for k, yk in enumerate(ys):
            pts = " ".join(f"{px(i + 1):.1f},{py(v):.1f}" for i, v in enumerate(yk)
                           if np.isfinite(v))
            parts.append(f'<polyline points="{pts}" fill="none" stroke="{colours[k % 4]}" '
                         'stroke-width="2"/>')
            parts.append(f'<text x="{w-pad-4}" y="{pad+15+14*k}" font-size="11" '
                         f'text-anchor="end" fill="{colours[k % 4]}">{html.escape(labels[k])}'
                         '</text>')
    parts.append("</svg>")
    return "".join(parts)


def render_html(frame: pd.DataFrame, U: np.ndarray, spec: CampaignSpec,
                store: CampaignStore) -> str:
    title = "matforge design campaign"
    body = [f"<h1>{title}</h1>", "<h2>Spec</h2>",
            f"<pre>{html.escape(spec.to_yaml())}</pre>",
            (f"<p>{len(frame)} oracle evaluations; filter verdicts: "
             f"{html.escape(json.dumps(store.verdict_counts()))}.</p>")]
    if len(frame):
        curves, labels = [], []
        for j, o in enumerate(spec.objectives):
            u = np.where(np.isfinite(U[:, j]), U[:, j], -np.inf)
            best = np.maximum.accumulate(u)
            best[~np.isfinite(best)] = np.nan
            curves.append(best)
            labels.append(f"{o.describe()} (utility)")
        body += ["<h2>Best so far</h2>",
                 _svg_line(curves, labels, "best-so-far utility", "oracle evaluations",
                           "utility")]
        if len(spec.objectives) >= 2:
            finite = np.all(np.isfinite(U), axis=1)
            pts = U[finite][:, :2]
            if len(pts):
                front = pareto_mask(pts)
                hv = hypervolume(U[finite], U[finite].min(axis=0) - 1e-9)
                body += ["<h2>Pareto front</h2>",
                         (f"<p>Hypervolume (utilities, reference = worst observed): {hv:.4g}; "
                          f"{int(front.sum())} non-dominated.</p>"),
                         _svg_line([pts], [], "evaluated candidates (red: Pareto front)",
                                   spec.objectives[0].describe(), spec.objectives[1].describe(),
                                   scatter=True, highlight=front)]
        order = np.argsort(-np.nan_to_num(U.sum(axis=1), nan=-np.inf))[:20]
        cols = ["step", "formula", *[o.name for o in spec.objectives], "strategy", "status"]
        top = frame.iloc[order][[c for c in cols if c in frame.columns]]
        body += ["<h2>Top candidates</h2>", top.to_html(index=False, float_format="%.4g")]
        if "cif" in frame.columns:
            body.append("<h3>Structures</h3>")
            for i in order[:10]:
                cif = frame["cif"].iloc[i]
                if isinstance(cif, str):
                    body.append(f"<details><summary>{html.escape(frame['formula'].iloc[i])}"
                                f"</summary><pre>{html.escape(cif)}</pre></details>")
    latent = store.get_meta("latent_map")
    if latent:
        pts = np.asarray(latent.get("points", []), dtype=float)
        if pts.ndim == 2 and len(pts):
            body += ["<h2>Latent map</h2>",
                     _svg_line([pts[:, :2]], [], "VAE latent space (red: evaluated)", "z1", "z2",
                               scatter=True, highlight=np.asarray(latent.get("evaluated",
                                                                             [False] * len(pts))))]
    return ("<!doctype html><html><head><meta charset='utf-8'><title>" + title +
            "</title><style>body{font-family:sans-serif;max-width:900px;margin:auto}"
            "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px}"
            "</style></head><body>" + "\n".join(body) + "</body></html>")
