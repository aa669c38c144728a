"""Quality against cost, with the Pareto frontier: which settings are worth what they cost.

One scatter per cost (latency per sample, energy per sample) for the run's headline quality
metric: each ok cell a point with its quality's 95% interval, and the frontier of the cells no
other cell beats on both (lower cost and better quality; for wer and cer better is lower).
"""

from __future__ import annotations

from typing import Any

from vlmperf.backends.registry import KINDS
from vlmperf.report.html.cells import CellView, RunView
from vlmperf.report.html.escape import plot_text
from vlmperf.report.html.figures import Plot, axis, axis_title, color, figure, scaled, slug, unless_flat
from vlmperf.scoring.definitions import LOWER_IS_BETTER_QUALITY

QUALITY_ORDER = (
    "vqa_accuracy",
    "mcq_accuracy",
    "any_answer_match",
    "mcq_accuracy_lenient",
    "cider",
    "bleu_4",
    "rouge_l",
    "meteor",
    "wer",
    "cer",
    "wer_normalised",
    "cer_normalised",
    "agreement_vs_reference",
)
"""The quality metric drawn: the first of these that at least two ok cells have."""


def cost_axes() -> list[str]:
    """The cost axes ("latency", "energy") some target kind has a metric for (`KindReport.costs`)."""
    return list(dict.fromkeys(cost for kind in KINDS.values() for cost in kind.report.costs))


def pareto_front(points: list[tuple[float, float]], lower_is_better: bool = False) -> list[int]:
    """Indices of the points on the frontier: lower cost (x) and better quality (y), in cost order.

    A point is on it when no point costs the same or less and is at least as good while being
    strictly better in one of the two. Sorting by cost (ties: best quality first) and keeping each
    point that beats every cheaper one gives exactly those points.
    """
    sign = -1.0 if lower_is_better else 1.0
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -sign * points[i][1]))
    front: list[int] = []
    best = float("-inf")
    for i in order:
        if sign * points[i][1] > best:
            front.append(i)
            best = sign * points[i][1]
    return front


def frontier_trace(xs: list[float], ys: list[float]) -> dict[str, Any]:
    """The frontier's cells ringed, joined by a step line when there are two or more: a line alone
    would draw nothing for a frontier of one cell (the one that is cheapest and best)."""
    return {
        "type": "scatter",
        "mode": "lines+markers" if len(xs) > 1 else "markers",
        "name": "Pareto frontier",
        "x": xs,
        "y": ys,
        "line": {"shape": "hv", "color": color(3)},
        "hoverinfo": "skip",
        "marker": {"symbol": "circle-open", "size": 18, "color": color(3), "line": {"width": 2.5}},
    }


def quality_metric(view: RunView) -> str | None:
    for name in QUALITY_ORDER:
        if sum(c.stat(name, "value") is not None for c in view.ok) >= 2:
            return name
    return None


def _cost(cell: CellView, cost: str) -> tuple[str, float] | None:
    kind = KINDS.get(cell.kind)
    metric = kind.report.costs.get(cost) if kind else None  # the metric whose p50 stands for this cost
    if not metric:
        return None
    value = cell.stat(metric, "p50")
    return None if value is None else (metric, value)


def _error_bars(cells: list[CellView], quality: str) -> dict[str, Any] | None:
    intervals = [c.ci95(quality) for c in cells]
    if not any(intervals):
        return None
    values = [c.stat(quality, "value") or 0.0 for c in cells]
    return {
        "type": "data",
        "symmetric": False,
        "color": "#999",
        "array": [(ci[1] - v) if ci else 0 for ci, v in zip(intervals, values, strict=True)],
        "arrayminus": [(v - ci[0]) if ci else 0 for ci, v in zip(intervals, values, strict=True)],
    }


def _plot(view: RunView, quality: str, cost: str) -> Plot | None:
    measured = [(c, c.stat(quality, "value"), _cost(c, cost)) for c in view.ok]
    rows = [(c, y, found) for c, y, found in measured if y is not None and found is not None]
    if len(rows) < 2:
        return None
    cells = [c for c, _, _ in rows]
    metrics = sorted({metric for _, _, (metric, _) in rows})
    xs = [scaled(metric, value) for _, _, (metric, value) in rows]
    ys = [y for _, y, _ in rows]
    front = pareto_front(list(zip(xs, ys, strict=True)), quality in LOWER_IS_BETTER_QUALITY)
    points: dict[str, Any] = {
        "type": "scatter",
        "mode": "markers",
        "name": "cells",
        "x": xs,
        "y": ys,
        "text": [plot_text(c.label) for c in cells],
        "marker": {"size": 10, "color": color(0)},
        "hovertemplate": "%{text}<br>cost %{x:.4g}<br>" + quality + " %{y:.4g}<extra></extra>",
    }
    bars = _error_bars(cells, quality)
    if bars:
        points["error_y"] = bars
    frontier = frontier_trace([xs[i] for i in front], [ys[i] for i in front])
    direction = "lower is better" if quality in LOWER_IS_BETTER_QUALITY else "higher is better"
    plot = Plot(
        kind="quality",
        id=slug("plot", "quality", quality, "vs", cost),
        title=f"{quality} against {cost}",
        caption=f"each ok cell with its 95% interval, ringed on the Pareto frontier; {quality}: {direction}; "
        f"x: p50 of {', '.join(metrics)}",
        figure=figure([points, frontier], axis(axis_title(metrics[0], "p50")), axis(quality)),
        attrs={"metric": quality, "axis": cost},
    )
    cheapest = f"in every cell, so the best is the cheapest in {cost}: {cells[front[0]].label}"
    return unless_flat(plot, quality, cheapest, quality)


def quality_plots(view: RunView) -> list[Plot]:
    quality = quality_metric(view)
    if quality is None:
        return []
    return [plot for cost in cost_axes() if (plot := _plot(view, quality, cost)) is not None]
