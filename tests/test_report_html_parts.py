"""The HTML report's parts on synthetic runs: endpoint and mixed documents, plots of one value said in a
line, the Pareto frontier, the time budget bar, the summary table's pinned columns, CDF points."""

from __future__ import annotations

import re

import numpy as np
import pytest
from test_report_html import Page, figures

from vlmperf.metrics.summary import summarize
from vlmperf.report.html import render_html
from vlmperf.report.html.budget import budget_bar
from vlmperf.report.html.figures import flat_value
from vlmperf.report.html.plots_quality import frontier_trace, pareto_front
from vlmperf.report.html.records import CDF_POINTS, cdf_points, reduce_records
from vlmperf.report.html.table import summary_table_html, table_rows

plotly = pytest.importorskip("plotly", reason="the HTML report needs the report extra (plotly)")


def _endpoint_document():
    """Two providers, each at concurrency 1 and 4: per-provider CDFs, mean bars, sweep plots by concurrency."""
    rng = np.random.default_rng(1)
    cells, records = [], {}
    for provider, base in (("novita", 0.8), ("nebius", 1.2)):
        for concurrency in (1, 4):
            cell_id = f"{provider}-c{concurrency}"
            e2e = rng.lognormal(np.log(base * (1 + concurrency / 10)), 0.2, 400)
            records[cell_id] = [
                {
                    "backend": "endpoint",
                    "seq": i,
                    "e2e_s": float(v),
                    "sample_ids": [f"s{i}"],
                    "outputs": [None if i == 0 else f"caption {i}"],
                    "error": {"class": "5xx"} if i == 0 else None,
                }
                for i, v in enumerate(e2e)
            ]
            config = {
                "target.kind": "endpoint",
                "target.model": "Qwen/Qwen2.5-VL-7B-Instruct",
                "target.provider": provider,
                "scenario.kind": "concurrent",
                "scenario.concurrency": concurrency,
            }
            metrics = {
                "e2e_s": summarize(e2e.tolist()),
                "ttft_s": summarize((e2e / 3).tolist()),
                "achieved_rate": {"value": concurrency / base},
            }
            cells.append(
                {
                    "id": cell_id,
                    "config": config,
                    "swept": {},
                    "status": "ok",
                    "error": None,
                    "metrics": metrics,
                    "info": {},
                }
            )
    run = {
        "id": "ep",
        "created": "2026-11-22T00:00:00+00:00",
        "name": "providers",
        "status": "complete",
        "manifest": {},
        "unfinished_cells": [],
    }
    return {"run": run, "cells": cells}, records


TIME_S = {"load": 2.0, "warm_up": 1.0, "timed": 6.0, "flop_pass": 0.5, "stage_pass": 0.0, "scoring": 0.5}
"""Each local cell's booked passes: 10 s per cell, stage_pass 0 s (left out of the bar)."""


def _local_document():
    """Three local cells over batch size: FLOPs the same in each (10.1M), the largest batch the cheapest per
    sample and the best (a Pareto frontier of one cell), and a time budget of 30 s cells + 2 s harness +
    1 s report."""
    rng = np.random.default_rng(3)
    cells, records = [], {}
    for batch, cider in ((1, 0.2), (2, 0.3), (4, 0.5)):
        latency = rng.lognormal(np.log(0.02 * (1 + batch / 4)), 0.1, 40)
        config = {"target.kind": "local", "target.model": "tiny", "scenario.batch_size": batch}
        metrics = {
            "latency_s": summarize(latency.tolist()),
            "latency_per_sample_s": summarize((latency / batch).tolist()),
            "flops": summarize([10.1e6] * 40),
            "cider": {"value": cider, "n": 10},
        }
        cell_id = f"local-b{batch}"
        cells.append(
            {
                "id": cell_id,
                "config": config,
                "swept": {},
                "status": "ok",
                "error": None,
                "metrics": metrics,
                "info": {"time_s": dict(TIME_S)},
            }
        )
        records[cell_id] = [
            {
                "backend": "local",
                "seq": i,
                "latency_s": float(v),
                "batch_size": batch,
                "sample_ids": [f"s{i}"],
                "outputs": [f"caption {i}"],
            }
            for i, v in enumerate(latency)
        ]
    run = {
        "id": "local",
        "created": "2026-11-22T00:00:00+00:00",
        "name": "batches",
        "status": "complete",
        "manifest": {"wall_s": 32.0, "report_s": 1.0},
        "unfinished_cells": [],
    }
    return {"run": run, "cells": cells}, records


def _mixed_document():
    """The local and the endpoint runs' cells in one run, and a failed cell: a summary table of both
    kinds' columns, wider than the page."""
    document, records = _local_document()
    endpoint, endpoint_records = _endpoint_document()
    failed = {
        "id": "broken",
        "config": {"target.kind": "local", "target.model": "tiny", "scenario.batch_size": 8},
        "swept": {},
        "status": "failed",
        "error": {"type": "RuntimeError", "message": "out of memory " * 30},
        "metrics": {},
        "info": {},
    }
    document["cells"] += [*endpoint["cells"], failed]
    records.update(endpoint_records, broken=[])
    return document, records


def test_endpoint_runs_get_provider_cdfs_mean_bars_and_concurrency_plots():
    document, records = _endpoint_document()
    html = render_html(document, records=lambda cell_id: records[cell_id])
    drawn, page = figures(html), Page(html)
    sweep = page.find("div", data_plot="sweep", data_axis="scenario.concurrency")
    assert {d["data-metric"] for d in sweep} == {"e2e_s", "ttft_s", "achieved_rate"}
    e2e = drawn[next(d["id"] for d in sweep if d["data-metric"] == "e2e_s")]
    assert [t["name"] for t in e2e["data"] if t.get("showlegend", True)] == ["provider=novita", "provider=nebius"]
    assert len(e2e["data"]) == 6, "a p50 line and two band edges per provider"
    cdf = drawn["plot-latency-cdf"]
    assert len(cdf["data"]) == 4 and all(len(t["x"]) <= CDF_POINTS for t in cdf["data"])
    bars = drawn["plot-target-means"]["data"]
    assert [t["name"] for t in bars] == ["e2e_s mean", "ttft_s mean"] and "error_y" in bars[0]
    assert "no output (5xx)" in html, "a failed request shows its error class instead of an output"
    for figure in drawn.values():
        plotly.graph_objects.Figure(figure)


def test_flat_value_is_the_one_value_of_every_trace_error_bars_included():
    def trace(ys, **extra):
        return {"type": "scatter", "x": list(range(len(ys))), "y": ys, **extra}

    assert flat_value([trace([10.1e6, 10.1e6]), trace([10.1e6 * (1 + 1e-12)])]) == 10.1e6, "within float rounding"
    assert flat_value([trace([0.0, None, 0.0])]) == 0.0
    assert flat_value([trace([1.0, 1.0 + 1e-6])]) is None, "a spread of 1e-6 is a measurement"
    assert flat_value([trace([1.0, 1.0]), trace([2.0, 2.0])]) is None, "two lines apart"
    assert flat_value([trace([5.0, 5.0], error_y={"array": [1.0, 0.5], "arrayminus": [1.0, 0.5]})]) is None
    assert flat_value([trace([5.0, 5.0], error_y={"array": [0, 0]})]) == 5.0
    assert flat_value([trace([5.0])]) is None and flat_value([]) is None, "one point compares nothing"


def test_a_plot_of_one_value_is_said_in_one_line_instead():
    document, records = _local_document()
    html = render_html(document, records=lambda cell_id: records[cell_id])
    page, drawn = Page(html), figures(html)
    flat = {li["data-plot"]: li for li in page.find("li")}
    assert set(flat) == {"sweep", "flops"} and flat["sweep"]["data-metric"] == "flops"
    assert not set(drawn) & {li["id"] for li in flat.values()}, "no figure is sent for them"
    assert ">flops p50 is 10.1 MFLOP at every scenario.batch_size</li>" in html
    assert ">flops (mean per sample) is 10.1 MFLOP in every cell</li>" in html
    assert {"plot-sweep-latency-s-by-scenario-batch-size", "plot-latency-cdf"} <= set(drawn), "the others are drawn"
    assert {d["id"] for d in page.find("div", **{"class": "plot"})} == set(drawn)
    for cell in document["cells"]:
        cell["metrics"]["cider"] = {"value": 0.0, "n": 10}
    html = render_html(document)
    assert ">cider is 0 in every cell, so the best is the cheapest in latency: batch_size=4</li>" in html
    assert "plot-quality-cider-vs-latency" not in figures(html)


def test_the_pareto_frontier_rings_its_cells_even_when_it_is_one():
    one = frontier_trace([6.5], [0.5])
    assert one["name"] == "Pareto frontier" and one["mode"] == "markers" and one["marker"]["symbol"] == "circle-open"
    assert frontier_trace([1.0, 2.0], [0.1, 0.2])["mode"] == "lines+markers", "joined from two cells up"
    document, _ = _local_document()
    quality = figures(render_html(document))["plot-quality-cider-vs-latency"]
    front = next(t for t in quality["data"] if t["name"] == "Pareto frontier")
    assert front["y"] == [0.5] and front["mode"] == "markers", "batch 4 is the cheapest per sample and the best"
    plotly.graph_objects.Figure(quality)


def test_the_time_budget_bar_shows_each_phase_that_took_time():
    document, _ = _local_document()
    bar = budget_bar(document)
    segments = re.findall(r'<div class="segment" data-phase="([^"]+)" data-share="([^"]+)" title="([^"]+)"', bar)
    names = [name for name, _, _ in segments]
    assert names == ["load", "warm_up", "timed", "flop_pass", "scoring", "harness", "report"], "stage_pass took 0 s"
    assert sum(float(share) for _, share, _ in segments) == pytest.approx(1.0, abs=1e-5)
    assert segments[names.index("timed")][2] == "timed: 18.00 s (54.5%)"
    assert ">timed 55%</div>" in bar and re.search(r'data-phase="report"[^>]*></div>', bar), "3%: only its title"
    assert "report 1.00 s</span>" in bar, "every phase in the key"
    assert "Run time 33.00 s, 18% of it outside load, warm-up and the timed windows." in bar
    html = render_html(document)
    assert html.index('id="time-budget"') < html.index("</header>"), "under the run's title"
    del document["run"]["manifest"]["wall_s"]
    assert budget_bar(document) == "" and 'id="time-budget"' not in render_html(document), "an old run has none"


def test_the_summary_table_pins_the_cell_id_and_swept_keys_and_wraps_their_names():
    document, _ = _mixed_document()
    html = summary_table_html(document)
    header, _ = table_rows(document)
    pinned, rows = header.index("status"), len(document["cells"]) + 1
    assert pinned == 4 and f'data-pinned="{pinned}"' in html, "cell, target.kind, target.model, batch_size"
    assert html.count('class="pin"') == (pinned - 1) * rows and html.count('class="pin pin-end"') == rows
    assert "scenario.<wbr>batch_size" in html


def test_cdf_points_keep_the_extremes_and_at_most_200_points():
    values = np.random.default_rng(2).exponential(size=100_000)
    x, y = cdf_points(values)
    assert len(x) <= CDF_POINTS and x[0] == values.min() and x[-1] == values.max() and y[-1] == 1.0
    assert np.all(np.diff(x) >= 0) and np.all(np.diff(y) > 0)
    assert abs(np.interp(0.5, y, x) - np.median(values)) < 0.02
    small_x, small_y = cdf_points(np.array([3.0, 1.0, 2.0]))
    assert small_x.tolist() == [1.0, 2.0, 3.0] and small_y.tolist() == pytest.approx([1 / 3, 2 / 3, 1.0])


def test_records_stored_before_outputs_were_recorded_show_no_samples_instead_of_failing():
    old = [
        {"seq": 0, "sample_ids": ["a", "b"], "latency_s": 1.0},
        {"seq": 1, "sample_ids": ["a"], "latency_s": 2.0, "outputs": None},
    ]
    reduced = reduce_records(old, "local")
    assert reduced.records == 2 and reduced.samples == [] and reduced.cdf_n == 2


def test_pareto_front_keeps_the_cells_no_other_beats_on_both():
    points = [(10.0, 0.5), (20.0, 0.7), (15.0, 0.4), (30.0, 0.7), (5.0, 0.2)]
    assert pareto_front(points) == [4, 0, 1], "cheapest first; (15, 0.4) and (30, 0.7) are beaten"
    errors = [(10.0, 0.3), (20.0, 0.2), (5.0, 0.4)]
    assert pareto_front(errors, lower_is_better=True) == [2, 0, 1], "for wer, lower is better"


def test_records_must_be_a_store_or_a_callable():
    document, _ = _endpoint_document()
    with pytest.raises(TypeError, match="Store or a callable"):
        render_html(document, records=[{"e2e_s": 1.0}])
