"""The roofline view of the HTML report: each local cell against its device's compute and bandwidth roofs."""

from __future__ import annotations

import copy
import re
from html import unescape

import pytest

from tests.test_report_html import IMG, Page, figures
from tests.test_report_html_parts import _endpoint_document
from vlmperf.report.html import render_html

plotly = pytest.importorskip("plotly", reason="the HTML report needs the report extra (plotly)")


CPU_MISSING = [
    "peak FLOP/s: a CPU has no published peak; give target.peak_flops_per_s",
    "peak memory bandwidth: a CPU has no published peak; give target.peak_memory_bandwidth_bytes_per_s",
]


def _with_peaks(document, peaks, device_names=()):
    """The document with each cell's device peaks set ((FLOP/s, B/s), either None), the reasons a
    missing one gives, and limit figures for the hover."""
    changed = copy.deepcopy(document)
    for index, (cell, (flops, bandwidth)) in enumerate(zip(changed["cells"], peaks, strict=True)):
        missing = [reason for reason, peak in zip(CPU_MISSING, (flops, bandwidth), strict=True) if peak is None]
        cell["info"]["limits"] = {
            "peak_flops_per_s": flops,
            "peak_memory_bandwidth_bytes_per_s": bandwidth,
            "missing": missing,
            "why_no_memory_traffic": None,
        }
        cell["info"]["device_name"] = device_names[index] if index < len(device_names) else None
        cell["metrics"].update({"limit_ratio": {"p50": 38.4}, "mfu": {"p50": 0.01}, "mbu": {"p50": 0.025}})
    return changed


def roofline(html: str) -> tuple[dict, dict, str]:
    """The roofline's figure, its div's attributes, and its box's note as text ('' when it has none)."""
    box = re.search(r'<section class="plot-box[^"]*"><h3>[^<]*roofline[^<]*</h3>(.*?)</section>', html, re.S)
    assert box, "the page has a roofline"
    note = re.search(r'<p class="note plot-note">(.*?)</p>', box.group(1), re.S)
    div = Page(html).find("div", id="plot-roofline")[0]
    return figures(html)["plot-roofline"], div, unescape(note.group(1)) if note else ""


def test_the_roofline_draws_each_cell_and_says_why_a_cpu_has_no_roof(small_run):
    """The real run on this CPU, no peaks given: a point per cell at its p50s, on log axes, no roof,
    and the reason the run recorded, in one line."""
    _, document, html = small_run
    figure, div, note = roofline(html)
    cells = document["cells"]
    assert div["data-roofs"] == "0" and len(figure["data"]) == len(cells)
    assert [t["name"] for t in figure["data"]] == [t["name"] for t in figures(html)["plot-latency-cdf"]["data"]]
    for trace, cell in zip(figure["data"], cells, strict=True):
        assert trace["mode"] == "markers"
        assert trace["x"][0] == pytest.approx(cell["metrics"]["arithmetic_intensity_flop_per_byte"]["p50"], rel=1e-4)
        assert trace["y"][0] == pytest.approx(cell["metrics"]["flops_per_s"]["p50"], rel=1e-4)
        assert "limit_ratio -" in trace["hovertemplate"], "no peak, no limit"
    assert figure["layout"]["xaxis"]["type"] == figure["layout"]["yaxis"]["type"] == "log"
    assert note == f"No full roof for 2 of 2 cell(s): {'; '.join(CPU_MISSING)}."
    plotly.graph_objects.Figure(figure)


def test_the_roofline_draws_a_roof_and_its_ridge_per_device(small_run):
    _, document, _ = small_run
    with_peaks = _with_peaks(document, [(1e11, 2e10), (4e11, 2e10)], device_names=[IMG])
    html = render_html(with_peaks)
    figure, div, note = roofline(html)
    assert div["data-roofs"] == "2" and note == "", "every cell has its roof"
    lines = [t for t in figure["data"] if t["mode"] == "lines"]
    ridges = [t for t in figure["data"] if t.get("marker", {}).get("symbol") == "diamond-open"]
    points = [t for t in figure["data"] if t not in lines and t not in ridges]
    assert len(lines) == len(ridges) == len(points) == 2
    for line, ridge, peak in zip(lines, ridges, (1e11, 4e11), strict=True):
        assert [ridge["x"][0], ridge["y"][0]] == pytest.approx([peak / 2e10, peak]), "peak FLOP/s / peak B/s"
        assert line["y"] == pytest.approx([min(peak, 2e10 * x) for x in line["x"]], rel=1e-4)
        assert ridge["x"][0] in line["x"], "the roof bends at its ridge"
        xs = [p["x"][0] for p in points]
        assert line["x"][0] < min(xs) and line["x"][-1] > max(xs), "each roof spans every point"
    assert lines[0]["name"] == "roof of &lt;img src=x onerror=alert(1)&gt;: 100 GFLOP/s, 20 GB/s", "escaped"
    assert lines[1]["name"] == "roof of cpu: 400 GFLOP/s, 20 GB/s"
    assert all("limit_ratio 38.4x<br>mfu 1.00%, mbu 2.50%" in p["hovertemplate"] for p in points)
    plotly.graph_objects.Figure(figure)


def test_a_partial_roof_and_a_cell_without_bytes_are_said_in_the_note(small_run):
    _, document, _ = small_run
    partial = _with_peaks(document, [(1e11, None), (None, None)])
    partial["cells"][1]["metrics"].pop("arithmetic_intensity_flop_per_byte")
    partial["cells"][1]["info"]["limits"]["why_no_memory_traffic"] = "the model's config names no hidden size"
    figure, div, note = roofline(render_html(partial))
    assert div["data-roofs"] == "1" and len(figure["data"]) == 2, "a flat roof without a ridge, and one point"
    assert figure["data"][0]["y"] == [1e11] * len(figure["data"][0]["x"])
    assert note == (
        f"No full roof for 1 of 1 cell(s): {CPU_MISSING[1]}. "
        "1 local cell(s) not drawn: the model's config names no hidden size."
    )


def test_no_roofline_without_arithmetic_intensity_flop_per_byte(small_run):
    """Endpoint runs, and local runs without FLOPs or bytes, have nothing to put on a roofline."""
    _, document, _ = small_run
    without = copy.deepcopy(document)
    for cell in without["cells"]:
        cell["metrics"].pop("arithmetic_intensity_flop_per_byte")
    endpoint, _ = _endpoint_document()
    for html in (render_html(without), render_html(endpoint)):
        assert "plot-roofline" not in html and 'data-plot="roofline"' not in html
        assert 'class="note plot-note"' not in html
