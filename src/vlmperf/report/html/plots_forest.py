"""The comparison's forest plot: each compared row's change in percent with its 95% interval.

One marker per row at `delta_pct`, its `ci95_delta_pct` as horizontal error bars, on its own line
(rows are placed by position, named by tick labels, so two rows with the same label never merge).
A solid vertical line marks no change; with `--fail-on-regression PCT` a dashed line marks PCT on
the bad side of the rows' metrics (+PCT where lower is better, -PCT where higher is better). Rows
are coloured by state (`compare_view.row_states`), one trace per state present. A row without a
percentage (its baseline statistic is 0) has no place on the axis and is left out, and the
caption says so.
"""

from __future__ import annotations

from typing import Any

from vlmperf.report.compare_view import STATES
from vlmperf.report.html.escape import plot_text
from vlmperf.report.html.figures import Plot, axis, figure, round_sig

COLOURS = {"regression": "#d62728", "worse": "#ff7f0e", "better": "#2ca02c", "same": "#7f7f7f"}
LEGEND = {
    "regression": "regression",
    "worse": "worse, within the threshold",
    "better": "better",
    "same": "no significant change",
}
ROW_HEIGHT, MIN_HEIGHT = 28, 260


def row_label(row: dict[str, Any], keys: list[str], short: dict[str, str]) -> str:
    """A row named by the keys that tell the compared cells apart, then its metric."""
    parts = [f"{short.get(k, k)}={row['config'].get(k, row.get(k))}" for k in keys]
    return ", ".join([*parts, row["metric"]])


def _trace(state: str, points: list[tuple[int, dict[str, Any], str]]) -> dict[str, Any]:
    xs, plus, minus, hover = [], [], [], []
    for _, row, label in points:
        delta = row["delta_pct"]
        low, high = row["ci95_delta_pct"] or (delta, delta)
        xs.append(round_sig(delta))
        plus.append(round_sig(max(high - delta, 0.0)))
        minus.append(round_sig(max(delta - low, 0.0)))
        interval = f"[{low:+.1f}, {high:+.1f}]%" if row["ci95_delta_pct"] else "no interval"
        p = "-" if row["p_value"] is None else f"{row['p_value']:.2g}"
        hover.append(plot_text(f"{label}: {delta:+.1f}% {interval}, p {p}, {row['verdict']}"))
    return {
        "type": "scatter",
        "mode": "markers",
        "name": LEGEND[state],
        "x": xs,
        "y": [position for position, _, _ in points],
        "text": hover,
        "hoverinfo": "text",
        "marker": {"color": COLOURS[state], "size": 9},
        "error_x": {
            "type": "data",
            "symmetric": False,
            "array": plus,
            "arrayminus": minus,
            "color": COLOURS[state],
            "thickness": 1.5,
            "width": 4,
        },
    }


def _vline(x: float, dash: str, colour: str) -> dict[str, Any]:
    return {
        "type": "line",
        "xref": "x",
        "yref": "paper",
        "x0": x,
        "x1": x,
        "y0": 0,
        "y1": 1,
        "line": {"color": colour, "width": 1.5, "dash": dash},
    }


def forest_plot(
    comparison: dict[str, Any],
    states: list[str],
    keys: list[str],
    short: dict[str, str],
    threshold_pct: float | None = None,
) -> Plot | None:
    """The forest plot of the comparison's rows (None when no row has a percentage)."""
    placed = [
        (row, state) for row, state in zip(comparison["rows"], states, strict=True) if row["delta_pct"] is not None
    ]
    if not placed:
        return None
    labels = [row_label(row, keys, short) for row, _ in placed]
    data = []
    for state in STATES:
        points = [(i, row, labels[i]) for i, (row, s) in enumerate(placed) if s == state]
        if points:
            data.append(_trace(state, points))
    shapes = [_vline(0, "solid", "#444")]
    annotations: list[dict[str, Any]] = []
    sides = ""
    if threshold_pct is not None:
        directions = {row["direction"] for row, _ in placed}
        for sign, way in ((1, "lower"), (-1, "higher")):
            if way in directions:
                shapes.append(_vline(sign * threshold_pct, "dash", COLOURS["regression"]))
                annotations.append(
                    {
                        "x": sign * threshold_pct,
                        "xref": "x",
                        "y": 1,
                        "yref": "paper",
                        "yanchor": "bottom",
                        "text": f"{sign * threshold_pct:+g}%",
                        "showarrow": False,
                        "font": {"color": COLOURS["regression"]},
                    }
                )
        if {"lower", "higher"} <= directions:
            sides = ": + for the metrics where lower is better, - where higher is better"
    y = axis(
        "",
        autorange="reversed",
        tickmode="array",
        tickvals=list(range(len(labels))),
        ticktext=[plot_text(label) for label in labels],
        showgrid=False,
    )
    x = axis(f"{comparison['stat']} of B against A (%)", zeroline=False)
    height = max(MIN_HEIGHT, 90 + ROW_HEIGHT * len(labels))
    spec = figure(
        data,
        x,
        y,
        height=height,
        shapes=shapes,
        annotations=annotations,
        showlegend=len(data) > 1,
        margin={"l": 60, "r": 20, "t": 30, "b": 50},
    )
    left_out = len(comparison["rows"]) - len(placed)
    caption = (
        "Each row's change of B against A in percent, with its 95% bootstrap interval. The solid line is no "
        "change"
        + (
            f"; the dashed line is the --fail-on-regression threshold ({threshold_pct:g}%{sides})"
            if threshold_pct is not None
            else ""
        )
        + "."
        + (f" {left_out} row(s) without a percentage (a baseline of 0) are not drawn." if left_out else "")
    )
    return Plot(
        "forest", "plot-forest", "Change per row (B against A)", caption, spec, attrs={"rows": str(len(placed))}
    )
