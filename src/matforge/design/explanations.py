"""Synthesizability and the surrogate's reasons for the ranked candidates of a campaign.

Every ranked candidate gets the shipped synthesizability score (unless an oracle stage
already measured it). When the campaign screens with a tree-ensemble surrogate, the top
candidates also get the readable groups of features (one elemental property's Magpie
statistics, the atomic fractions, ...) that push its prediction up and down most, from
exact TreeSHAP (`matforge.attributions`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from matforge.design.spec import CampaignSpec

N_EXPLAINED = 10
N_REASONS = 3


def with_synthesizability(ranked: pd.DataFrame) -> pd.DataFrame:
    if "synthesizability" in ranked.columns or not len(ranked):
        return ranked
    from matforge.synthesizability import load_synthesizability_model

    model = load_synthesizability_model()
    out = ranked.copy()
    out["synthesizability"] = model.score(list(out["formula"]))
    out["likely_synthesizable"] = out["synthesizability"] >= model.threshold
    return out


def campaign_surrogate(spec: CampaignSpec) -> str | None:
    """The model directory of the campaign's screening surrogate, if it has one."""
    stages = spec.oracle.stages if spec.oracle.kind == "chain" else [spec.oracle]
    found = [s.target for s in stages if s.kind == "surrogate" and s.target]
    option = spec.strategy.options.get("surrogate")
    found += [option] if isinstance(option, str) else []
    return next((f for f in found if (Path(f) / "config.json").exists()), None)


def explain_top(final: pd.DataFrame, spec: CampaignSpec) -> dict[str, Any] | None:
    """Grouped attributions of the surrogate for the top candidates (None without a tree
    surrogate): a table of reasons and the mean |attribution| per group."""
    from matforge.attributions import explain

    model_dir = campaign_surrogate(spec)
    if model_dir is None or not len(final):
        return None
    top = final.head(N_EXPLAINED)
    try:
        _, groups = explain(model_dir, top[["formula"]].reset_index(drop=True))
    except Exception:  # noqa: BLE001 - a model that cannot be explained leaves the report intact
        return None
    rows = []
    for r, formula in enumerate(top["formula"]):
        order = np.argsort(groups.values[r])
        up = [j for j in order[::-1][:N_REASONS] if groups.values[r, j] > 0]
        down = [j for j in order[:N_REASONS] if groups.values[r, j] < 0]
        rows.append({"formula": formula, "prediction": groups.mean[r],
                     "base value": groups.base_value,
                     "pushes up": _reasons(groups, r, up), "pushes down": _reasons(groups, r, down)})
    importance = np.abs(groups.values).mean(axis=0)
    return {"table": pd.DataFrame(rows), "groups": groups.names, "importance": importance}


def _reasons(groups: Any, row: int, cols: list[int]) -> str:
    return ", ".join(f"{groups.names[j]} {groups.values[row, j]:+.3f}" for j in cols)


def importance_figure(explained: dict[str, Any], n: int = 12) -> go.Figure:
    order = np.argsort(explained["importance"])[::-1][:n][::-1]
    fig = go.Figure(go.Bar(x=explained["importance"][order],
                           y=[explained["groups"][j] for j in order], orientation="h"))
    fig.update_layout(title="Surrogate: mean |attribution| over the top candidates",
                      xaxis_title="mean |TreeSHAP| (target units)", height=420)
    return fig
