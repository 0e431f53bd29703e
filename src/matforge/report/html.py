"""A small builder for self-contained HTML reports that open offline.

Every report is ONE file: plotly.js is embedded inline once (never a CDN), each figure is a
div plus a short script. A tiny self-check script records script errors and empty plots in
attributes of <body> (`data-report-errors`, `data-report-empty`, `data-report-plots`) so a
headless browser can verify the page without a debugging protocol.
"""

from __future__ import annotations

import html
import itertools
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from pymatgen.core import Element, Structure

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;
max-width:1100px;
color:#222;padding:0 1em}
table{border-collapse:collapse;font-size:0.9em;margin:0.5em 0 1.5em}
th,td{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}
.mf-fig{margin:0.5em 0 1.5em}.mf-note{color:#666;font-size:0.85em}
table.mf-fit{width:100%;table-layout:fixed}
.mf-fit th,.mf-fit td{overflow-wrap:anywhere;word-break:break-word;font-size:0.85em}
"""

# Records errors before anything else runs; checks every plot once the page has loaded.
_SELF_CHECK_HEAD = """<script>
window.__mfErrors=[];
window.addEventListener('error',function(e){window.__mfErrors.push(String(e.message));});
(function(){var ce=console.error;console.error=function(){
window.__mfErrors.push(Array.prototype.join.call(arguments,' '));ce.apply(console,arguments);};})();
</script>"""
_SELF_CHECK_TAIL = """<script>
window.addEventListener('load',function(){setTimeout(function(){
var divs=document.querySelectorAll('.plotly-graph-div'),empty=[];
divs.forEach(function(d){var n=(d._fullData||[]).reduce(function(a,t){
var k=t.z||t.x||t.values||[];return a+(t._length||k.length||0);},0);
if(!d._fullLayout||n===0||!d.querySelector('.main-svg'))empty.push(d.id);});
var wide=[];document.querySelectorAll('table').forEach(function(t,i){
if(t.getBoundingClientRect().right>document.documentElement.clientWidth+1)wide.push('table-'+i);});
document.body.setAttribute('data-report-wide',wide.join(','));
document.body.setAttribute('data-report-plots',String(divs.length));
document.body.setAttribute('data-report-empty',empty.join(','));
document.body.setAttribute('data-report-errors',window.__mfErrors.join(' | '));
document.body.setAttribute('data-report-checked','1');},500);});
</script>"""

_PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
            "#7f7f7f", "#bcbd22", "#17becf")


class Report:
    """Accumulate headings, text, tables and plotly figures; `write` produces one HTML file."""

    def __init__(self, title: str) -> None:
        self.title = title
        self._parts: list[str] = []
        self._n_fig = 0

    def heading(self, text: str, level: int = 2) -> Report:
        level = min(max(int(level), 1), 6)
        self._parts.append(f"<h{level}>{html.escape(text)}</h{level}>")
        return self

    def paragraph(self, text: str) -> Report:
        self._parts.append(f"<p>{html.escape(text)}</p>")
        return self

    def preformatted(self, text: str) -> Report:
        self._parts.append(f"<pre>{html.escape(text)}</pre>")
        return self

    def table(self, df: pd.DataFrame, max_rows: int = 200, fit: bool = False) -> Report:
        """`fit`: the table takes the page width and wraps long cells instead of scrolling."""
        shown = df.head(max_rows)
        self._parts.append(shown.to_html(index=False, border=0, na_rep="", float_format=_fmt,
                                         classes="mf-fit" if fit else None))
        if len(df) > max_rows:
            self._parts.append(f'<p class="mf-note">first {max_rows} of {len(df)} rows</p>')
        return self

    def figure(self, fig: go.Figure) -> Report:
        self._n_fig += 1
        div = fig.to_html(full_html=False, include_plotlyjs=False, div_id=f"mf-fig-{self._n_fig}",
                          config={"displaylogo": False, "responsive": True})
        self._parts.append(f'<div class="mf-fig">{div}</div>')
        return self

    def structures(self, structures: list[Structure], labels: list[str] | None = None) -> Report:
        """Interactive 3D view of each structure: atoms coloured by element plus the cell edges."""
        labels = list(labels) if labels is not None else [s.composition.reduced_formula
                                                          for s in structures]
        if len(labels) != len(structures):
            raise ValueError("structures and labels must have the same length")
        for structure, label in zip(structures, labels):
            self.figure(structure_figure(structure, label))
        return self

    def periodic_table(self, counts: dict[str, float], title: str = "") -> Report:
        return self.figure(periodic_table_figure(counts, title))

    def to_html(self) -> str:
        import plotly.offline

        body = "\n".join(self._parts)
        js = plotly.offline.get_plotlyjs() if self._n_fig else ""
        return (
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(self.title)}</title><style>{_CSS}</style>"
            f"{_SELF_CHECK_HEAD}"
            + (f"<script type=\"text/javascript\">{js}</script>" if js else "")
            + f"</head><body><h1>{html.escape(self.title)}</h1>\n{body}\n{_SELF_CHECK_TAIL}"
            "</body></html>\n"
        )

    def write(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.to_html(), encoding="utf-8")
        return path


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def structure_figure(structure: Structure, label: str = "") -> go.Figure:
    """Scatter3d of the atoms (one trace per element) and the 12 edges of the unit cell."""
    fig = go.Figure()
    matrix = structure.lattice.matrix
    corners = {c: np.array(c) @ matrix for c in itertools.product((0, 1), repeat=3)}
    xs, ys, zs = [], [], []
    for a, b in itertools.combinations(corners, 2):
        if sum(abs(i - j) for i, j in zip(a, b)) == 1:  # corners one step apart form an edge
            for p in (corners[a], corners[b]):
                xs.append(p[0])
                ys.append(p[1])
                zs.append(p[2])
            xs.append(None)
            ys.append(None)
            zs.append(None)
    fig.add_trace(go.Scatter3d(x=xs, y=ys, z=zs, mode="lines", name="cell",
                               line={"color": "#444", "width": 2}, hoverinfo="skip"))
    symbols = [site.specie.symbol if hasattr(site.specie, "symbol") else str(site.specie)
               for site in structure]
    coords = structure.cart_coords
    for k, el in enumerate(sorted(set(symbols), key=lambda s: Element(s).Z)):
        mask = np.array([s == el for s in symbols])
        size = 6 + 6 * float(Element(el).atomic_radius or 1.0)
        fig.add_trace(go.Scatter3d(
            x=coords[mask, 0], y=coords[mask, 1], z=coords[mask, 2], mode="markers", name=el,
            marker={"size": size, "color": _PALETTE[k % len(_PALETTE)],
                    "line": {"width": 1, "color": "#333"}},
            hovertext=[el] * int(mask.sum()), hoverinfo="text"))
    fig.update_layout(title=label, height=420, margin={"l": 0, "r": 0, "t": 40, "b": 0},
                      scene={"aspectmode": "data", "xaxis_title": "x (Å)",
                             "yaxis_title": "y (Å)", "zaxis_title": "z (Å)"})
    return fig


def _table_position(el: Element) -> tuple[int, int]:
    """(row, column) on the usual 18-column layout; lanthanides/actinides in rows 9 and 10."""
    if 57 <= el.Z <= 71:
        return 9, el.Z - 57 + 3
    if 89 <= el.Z <= 103:
        return 10, el.Z - 89 + 3
    return el.row, el.group


def periodic_table_figure(counts: dict[str, float], title: str = "") -> go.Figure:
    """Heatmap of `counts` (element symbol -> value) laid out as a periodic table (H..Lr)."""
    z = np.full((10, 18), np.nan)
    text = [["" for _ in range(18)] for _ in range(10)]
    hover = [["" for _ in range(18)] for _ in range(10)]
    for number in range(1, 104):
        el = Element.from_Z(number)
        r, c = _table_position(el)
        value = float(counts.get(el.symbol, 0.0))
        z[r - 1, c - 1] = value
        text[r - 1][c - 1] = el.symbol
        hover[r - 1][c - 1] = f"{el.symbol}: {value:g}"
    fig = go.Figure(go.Heatmap(
        z=z, text=text, texttemplate="%{text}", hovertext=hover, hoverinfo="text",
        colorscale="Viridis", xgap=2, ygap=2, colorbar={"title": "count"}))
    fig.update_layout(title=title, height=430, margin={"l": 10, "r": 10, "t": 40, "b": 10},
                      yaxis={"autorange": "reversed", "visible": False, "scaleanchor": "x"},
                      xaxis={"visible": False}, plot_bgcolor="white")
    return fig


def element_counts(formulas: Iterable[str]) -> dict[str, float]:
    """How many of the compositions contain each element (presence, not stoichiometry)."""
    from pymatgen.core import Composition

    counts: dict[str, float] = {}
    for f in formulas:
        for el in Composition(f).elements:
            counts[el.symbol] = counts.get(el.symbol, 0.0) + 1.0
    return counts


__all__ = ["Report", "element_counts", "periodic_table_figure", "structure_figure"]
