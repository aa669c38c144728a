"""Plots with one entry per cell: latency CDFs, mean latency with its interval, stages, FLOPs.

The CDFs come from the records (reduced to at most 200 points per cell); the rest from the cells'
summaries. Endpoint cells are labelled by what varies between them, which for a provider study is
the model and provider: their CDFs and bars are the per-provider view.
"""

from __future__ import annotations

from typing import Any

from vlmperf.backends.registry import KINDS
from vlmperf.report.html.cells import CellView, RunView
from vlmperf.report.html.escape import plot_text
from vlmperf.report.html.figures import Plot, axis, axis_title, color, figure, round_sig, scaled, unless_flat
from vlmperf.report.html.records import CellRecords

STAGES = ("vision_s", "projector_s", "prefill_s", "decode_s", "generate_overhead_s")
FLOP_PARTS = ("prefill_flops", "decode_flops")


def _names(cells: list[CellView]) -> list[str]:
    return [plot_text(c.label) for c in cells]


def _each(data: list[dict[str, Any]]) -> str:
    """What a bar plot's traces show, as the subject of its one line when it is flat."""
    names = [trace["name"] for trace in data]
    return names[0] if len(names) == 1 else f"each of {', '.join(names)}"


def _cdfs(view: RunView) -> list[tuple[CellView, CellRecords, str]]:
    """The finished cells with a latency CDF, each with its reduced records and the CDF's metric."""
    return [
        (c, c.records, c.records.cdf_metric)
        for c in view.ok
        if c.records is not None and c.records.cdf_metric is not None and c.records.cdf_x
    ]


def cdf_plot(view: RunView) -> list[Plot]:
    cdfs = _cdfs(view)
    if not cdfs:
        return []
    data = [
        {
            "type": "scatter",
            "mode": "lines",
            "name": plot_text(c.label),
            "line": {"shape": "hv", "color": color(i)},
            "x": [scaled(metric, v) for v in records.cdf_x],
            "y": [round_sig(v, 4) for v in records.cdf_y],
            "hovertemplate": f"{plot_text(c.label)}<br>%{{x:.4g}} ms: %{{y:.1%}} at or below<extra></extra>",
        }
        for i, (c, records, metric) in enumerate(cdfs)
    ]
    metrics = sorted({metric for _, _, metric in cdfs})
    nouns = {KINDS[kind].report.cell_noun for kind in view.kinds if kind in KINDS}
    per = f"per {nouns.pop()}" if len(nouns) == 1 else "per cell"
    return [
        Plot(
            kind="cdf",
            id="plot-latency-cdf",
            title=f"{' / '.join(metrics)} distribution (CDF) {per}",
            caption="from the records, at most 200 points per cell; n per cell: "
            + ", ".join(f"{records.cdf_n}" for _, records, _ in cdfs),
            figure=figure(data, axis(axis_title(metrics[0])), axis("share of values at or below", range=[0, 1.02])),
        )
    ]


def _error_y(cells: list[CellView], metric: str) -> dict[str, Any] | None:
    means = [(c.stat(metric, "mean"), c.ci95(metric)) for c in cells]
    if not any(ci for _, ci in means):
        return None
    return {
        "type": "data",
        "symmetric": False,
        "array": [scaled(metric, ci[1] - m) if ci and m is not None else 0 for m, ci in means],
        "arrayminus": [scaled(metric, m - ci[0]) if ci and m is not None else 0 for m, ci in means],
    }


def target_bars(view: RunView) -> list[Plot]:
    """Mean latency with its 95% interval per cell, when the run compares targets or other settings."""
    if not view.categorical():
        return []
    data = []
    latencies = [m for kind in KINDS.values() if kind.name in view.kinds for m in kind.report.bar_latencies]
    for i, metric in enumerate(dict.fromkeys(latencies)):
        cells = [c for c in view.ok if c.stat(metric, "mean") is not None]
        if not cells:
            continue
        trace = {
            "type": "bar",
            "name": f"{metric} mean",
            "x": _names(cells),
            "marker": {"color": color(i)},
            "y": [scaled(metric, c.stat(metric, "mean")) for c in cells],
        }
        bars = _error_y(cells, metric)
        if bars:
            trace["error_y"] = bars
        data.append(trace)
    if not data:
        return []
    plot = Plot(
        kind="targets",
        id="plot-target-means",
        title="mean latency per target / setting, with its 95% interval",
        caption="bootstrap 95% interval of the mean (shown from 5 values per cell up)",
        figure=figure(data, axis("cell", type="category"), axis("mean (ms)"), barmode="group"),
    )
    return [unless_flat(plot, _each(data), "in every cell", "latency_s")]


def _stacked(view: RunView, parts: tuple[str, ...], statistic: str) -> tuple[list[dict[str, Any]], list[CellView]]:
    cells = [c for c in view.ok if any(c.stat(p, statistic) is not None for p in parts)]
    data = [
        {
            "type": "bar",
            "name": part,
            "x": _names(cells),
            "marker": {"color": color(i)},
            "y": [scaled(part, c.stat(part, statistic)) for c in cells],
        }
        for i, part in enumerate(parts)
        if any(c.stat(part, statistic) is not None for c in cells)
    ]
    return data, cells


def stage_plot(view: RunView) -> list[Plot]:
    data, cells = _stacked(view, STAGES, "p50")
    if not data:
        return []
    plot = Plot(
        kind="stages",
        id="plot-stages",
        title="where a generate call's time goes (p50 per stage)",
        caption="stacked p50 of each stage; the p50s of parts need not add up to the p50 of the whole",
        figure=figure(data, axis("cell", type="category"), axis("p50 (ms)"), barmode="stack"),
    )
    return [unless_flat(plot, f"{_each(data)} (p50)", "in every cell", "latency_s")]


def flops_plot(view: RunView) -> list[Plot]:
    data, cells = _stacked(view, FLOP_PARTS, "mean")
    if not data:
        data, cells = _stacked(view, ("flops",), "mean")
    if not data:
        return []
    plot = Plot(
        kind="flops",
        id="plot-flops",
        title="FLOPs per sample (a count, not a rate)",
        caption="mean per sample, prefill and decode stacked; counted in a pass of its own",
        figure=figure(data, axis("cell", type="category"), axis("FLOP per sample", "flops"), barmode="stack"),
    )
    return [unless_flat(plot, f"{_each(data)} (mean per sample)", "in every cell", "flops")]
