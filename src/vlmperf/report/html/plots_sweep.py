"""Headline metrics against each numeric axis the run swept: the p50 line with its p90 and p99 band.

One plot per (metric, axis): x is the swept value (batch size, input length, image size,
concurrency, rate), one line per combination of the other varying keys. Throughput and energy per
sample against batch size are two of these. Figures that are one value per cell (an endpoint
cell's achieved rate) are drawn as a line without a band.
"""

from __future__ import annotations

from typing import Any

from vlmperf.backends.registry import KINDS
from vlmperf.report.html.cells import CellView, RunView
from vlmperf.report.html.escape import plot_text
from vlmperf.report.html.figures import Plot, axis, axis_title, color, figure, scaled, slug, unless_flat

BANDS = (("p90", 0.25), ("p99", 0.12))
"""The band's upper edges with their fill opacity: p50-p90 darker, p90-p99 lighter."""


def headline_metrics(view: RunView) -> list[str]:
    """The metrics drawn against each swept axis: each target kind's `sweep_plots` (only those the cells have)."""
    names: list[str] = []
    for kind in KINDS.values():
        if kind.name in view.kinds:
            names += [m for m in kind.report.sweep_plots if m not in names]
    return names


def _centre(cell: CellView, metric: str) -> float | None:
    value = cell.stat(metric, "p50")
    return value if value is not None else cell.stat(metric, "value")


def _group_traces(name: str, index: int, cells: list[CellView], axis_key: str, metric: str) -> list[dict[str, Any]]:
    cells = sorted(cells, key=lambda c: c.config[axis_key])
    xs = [c.config[axis_key] for c in cells]
    shown = plot_text(name)
    traces: list[dict[str, Any]] = [
        {
            "type": "scatter",
            "mode": "lines+markers",
            "name": shown,
            "legendgroup": shown,
            "x": xs,
            "y": [scaled(metric, _centre(c, metric)) for c in cells],
            "line": {"color": color(index)},
            "hovertemplate": f"{shown}<br>p50 %{{y:.4g}}<extra></extra>",
        }
    ]
    if all(c.stat(metric, "p50") is not None for c in cells):
        for statistic, alpha in BANDS:
            traces.append(
                {
                    "type": "scatter",
                    "mode": "lines",
                    "name": f"{shown} {statistic}",
                    "legendgroup": shown,
                    "showlegend": False,
                    "x": xs,
                    "y": [scaled(metric, c.stat(metric, statistic)) for c in cells],
                    "fill": "tonexty",
                    "fillcolor": color(index, alpha),
                    "line": {"width": 0, "color": color(index)},
                    "hovertemplate": f"{shown}<br>{statistic} %{{y:.4g}}<extra></extra>",
                }
            )
    return traces


def _plot(view: RunView, axis_key: str, metric: str) -> Plot | None:
    def numeric(value: Any) -> bool:
        return isinstance(value, (int, float)) and not isinstance(value, bool)

    cells = [c for c in view.ok if numeric(c.config.get(axis_key)) and _centre(c, metric) is not None]
    values = sorted({c.config[axis_key] for c in cells})
    if len(values) < 2:
        return None
    groups: dict[str, list[CellView]] = {}
    for cell in cells:
        groups.setdefault(view.label(cell, without=(axis_key,)), []).append(cell)
    data = [
        t for i, (name, members) in enumerate(groups.items()) for t in _group_traces(name, i, members, axis_key, metric)
    ]
    x = axis(axis_key, tickvals=values if len(values) <= 12 else None)
    banded = any(t.get("fill") for t in data)
    plot = Plot(
        kind="sweep",
        id=slug("plot", "sweep", metric, "by", axis_key),
        title=f"{metric} against {axis_key}",
        caption="p50 line; shaded band up to p90 (darker) and p99 (lighter)" if banded else "one value per cell",
        figure=figure(data, x, axis(axis_title(metric, "p50" if banded else ""), metric)),
        attrs={"metric": metric, "axis": axis_key},
    )
    lines = f", on each of its {len(groups)} lines" if len(groups) > 1 else ""
    return unless_flat(plot, f"{metric} p50" if banded else metric, f"at every {axis_key}{lines}", metric)


def sweep_plots(view: RunView) -> list[Plot]:
    plots = []
    for axis_key in view.numeric_axes():
        for metric in headline_metrics(view):
            plot = _plot(view, axis_key, metric)
            if plot is not None:
                plots.append(plot)
    return plots
