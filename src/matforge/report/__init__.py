"""matforge.report: self-contained HTML reports (plotly.js inline, opens offline)."""

from matforge.report.html import Report, element_counts, periodic_table_figure, structure_figure

__all__ = ["Report", "element_counts", "periodic_table_figure", "structure_figure"]
