"""The HTML report: self-contained, one row per cell, the plots a run's sweep calls for, and every
piece of untrusted text (outputs, sample ids, config values, errors) shown as text, never markup."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from html.parser import HTMLParser

import numpy as np
import pytest

from vlmperf.metrics.summary import summarize
from vlmperf.report.html import render_html, render_run
from vlmperf.report.html.budget import budget_bar
from vlmperf.report.html.escape import script_json
from vlmperf.report.html.figures import flat_value
from vlmperf.report.html.plots_quality import frontier_trace, pareto_front
from vlmperf.report.html.records import CDF_POINTS, cdf_points
from vlmperf.report.html.references import reference_cell, scored_fields
from vlmperf.report.html.table import summary_table_html, table_rows
from vlmperf.report.render import RENDERERS
from vlmperf.report.schema import run_document
from vlmperf.report.tables import summary_table
from vlmperf.store.sqlite import Store
from vlmperf.workloads import sources
from vlmperf.workloads.builtin import load_builtin_samples
from vlmperf.workloads.sample import References

plotly = pytest.importorskip("plotly", reason="the HTML report needs the report extra (plotly)")

SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"
CLOSE = "</script><script>alert(2)</script>"


class Page(HTMLParser):
    """The tags of a page and the text of the summary table, parsed the way a browser tokenises them."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.rows: list[list[str]] = []
        self._in_summary = False
        self._cell: list[str] | None = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag == "table":
            self._in_summary = dict(attrs).get("id") == "summary"
        elif tag == "tr" and self._in_summary:
            self.rows.append([])
        elif tag in ("td", "th") and self._in_summary:
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append("".join(self._cell))
            self._cell = None
        elif tag == "table":
            self._in_summary = False

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)

    def find(self, tag: str, **attrs: str) -> list[dict[str, str | None]]:
        wanted = {k.replace("_", "-"): v for k, v in attrs.items()}
        return [a for t, a in self.tags if t == tag and all(a.get(k) == v for k, v in wanted.items())]


def figures(html: str) -> dict:
    match = re.search(r'<script type="application/json" id="vlmperf-figures">(.*?)</script>', html, re.S)
    assert match, "the figures travel as one JSON script element"
    return json.loads(match.group(1))


def test_the_page_is_one_self_contained_file(small_run):
    _, _, html = small_run
    page = Page(html)
    scripts = [attrs for tag, attrs in page.tags if tag == "script"]
    assert len(scripts) == 3 and not any("src" in attrs for attrs in scripts), "plotly.js and our script are inline"
    for tag, attrs in page.tags:
        for name, value in attrs.items():
            if name in ("src", "href") and value:
                assert not re.match(r"^(https?:)?//", value), f"<{tag} {name}={value}> would need the network"
    assert not page.find("link"), "no stylesheet is fetched"
    assert html.count("plotly.js v") == 1, "plotly.js is embedded once"


def test_the_summary_table_has_a_row_per_cell_and_the_terminal_columns(small_run):
    _, document, html = small_run
    page = Page(html)
    header, *rows = page.rows
    terminal_header, _ = summary_table(document)
    assert header == terminal_header, "a failed cell's error goes where its figures would be, not in a column"
    assert [row[0] for row in rows] == [cell["id"] for cell in document["cells"]]
    assert [a["data-status"] for a in page.find("tr") if "data-status" in a] == ["ok", "ok"]
    numeric = [a for t, a in page.tags if t == "td" and "data-sort" in a]
    assert numeric, "numeric cells carry their value for sorting"


def test_plots_follow_the_swept_batch_size_and_match_their_figures(small_run):
    _, _, html = small_run
    page = Page(html)
    drawn = figures(html)
    divs = page.find("div", **{"class": "plot"})
    assert {d["id"] for d in divs} == set(drawn), "each plot div has its figure, and no figure is orphaned"
    sweep = {d["data-metric"] for d in page.find("div", data_plot="sweep", data_axis="scenario.batch_size")}
    flat = {li["data-metric"] for li in page.find("li", data_plot="sweep", data_axis="scenario.batch_size")}
    assert {"latency_s", "throughput_samples_per_s"} <= sweep and "flops" in sweep | flat, "a flat one as a line"
    kinds = {d["data-plot"] for d in divs}
    assert {"sweep", "cdf", "stages", "flops"} <= kinds
    assert "targets" not in kinds, "nothing categorical varies in a batch-size sweep"
    assert "energy_per_sample_j" not in sweep, "no energy sensor on this machine: no energy plot"
    for div in divs:
        figure = drawn[div["id"]]
        assert int(div["data-traces"]) == len(figure["data"])
        plotly.graph_objects.Figure(figure)  # raises on anything plotly.js would not understand


def test_latency_cdfs_and_outputs_come_from_the_records(small_run):
    _, document, html = small_run
    cdf = figures(html)["plot-latency-cdf"]
    assert len(cdf["data"]) == len(document["cells"])
    assert all(trace["y"][-1] == 1.0 for trace in cdf["data"])
    page = Page(html)
    shown = page.find("div", **{"class": "outputs-cell"})
    assert [d["data-cell"] for d in shown] == [c["id"] for c in document["cells"]]
    assert html.count('<td class="sample">') == 3 * len(document["cells"]), "the first 3 samples of each cell"


def test_without_records_the_page_says_what_is_missing(small_run):
    _, document, _ = small_run
    html = render_html(document)
    assert "records were not read" in html
    assert "plot-latency-cdf" not in html and 'id="outputs"' not in html
    assert 'data-plot="sweep"' in html, "plots from the summaries are still drawn"


def test_the_report_command_writes_the_html_page(small_run, tmp_path, vlmperf_env):
    out, document, _ = small_run
    target = tmp_path / "report.html"
    result = subprocess.run(
        [sys.executable, "-m", "vlmperf", "report", document["run"]["id"], "--format", "html", "-o", str(target),
         "--out", str(out)],
        env=vlmperf_env, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    html = target.read_text()
    assert html.startswith("<!DOCTYPE html>") and '<table id="summary"' in html
    assert RENDERERS["html"] is not None


def _hostile_store(folder):
    """A run written through the Store API whose outputs, ids, config values and errors are all hostile."""
    store = Store.open(folder)
    store.create_run("hostile", f"name {SCRIPT}", {"note": CLOSE})
    rng = np.random.default_rng(0)
    for position, model in enumerate([f"model-{SCRIPT}", f"model-{CLOSE}"]):
        cell_id = f"cell{position}"
        config = {"target.kind": "local", "target.model": model, "scenario.batch_size": 1}
        store.add_cell("hostile", cell_id, position, config, {"target.model": model})
        store.start_cell("hostile", cell_id)
        latencies = rng.uniform(0.1, 0.2, 50)
        for seq, latency in enumerate(latencies):
            outputs = [f"{SCRIPT} and {IMG}" if seq == 0 else "fine"]
            store.add_records("hostile", cell_id, [(seq, {"batch_size": 1, "sample_ids": [IMG if seq == 1 else f"s{seq}"],
                                                          "outputs": outputs, "latency_s": float(latency)})])
        store.finish_cell("hostile", cell_id, {"latency_s": summarize(latencies.tolist())}, {})
    store.add_cell("hostile", "broken", 2, {"target.kind": "local", "target.model": "x", "scenario.batch_size": 1}, {})
    store.start_cell("hostile", "broken")
    store.fail_cell("hostile", "broken", {"type": "RuntimeError", "message": f"boom {IMG}\nsecond line {SCRIPT}"})
    return store


OUTPUT_ROW = re.compile(
    r'<tr><td class="sample">(?P<sample>.*?)</td><td class="output[^"]*">(?P<output>.*?)</td>'
    r'(?:<td class="(?P<kind>reference[^"]*)">(?P<reference>.*?)</td>)?</tr>', re.S,
)


def output_rows(html: str) -> dict[str, list[dict[str, str]]]:
    """Each outputs block's rows (sample, output, reference cell's class and markup) by cell id,
    and each block's note under the key `note`."""
    blocks = re.findall(r'<div class="outputs-cell" data-cell="([^"]*)">(.*?)</table></div>', html, re.S)
    return {
        cell: [m.groupdict() for m in OUTPUT_ROW.finditer(block)]
        + [{"note": n} for n in re.findall(r'<p class="note references-error">(.*?)</p>', block, re.S)]
        for cell, block in blocks
    }


def test_outputs_sit_beside_the_references_of_the_same_samples(small_run):
    """render_run loads each cell's workload again (the built-in photos, a caption task) and shows
    the reference captions of the samples whose outputs are shown, and only those."""
    out, document, _ = small_run
    html = render_run(document["run"]["id"], out)
    builtin = {sample.id: sample.references for sample in load_builtin_samples()}
    shown = output_rows(html)
    assert set(shown) == {cell["id"] for cell in document["cells"]}
    for rows in shown.values():
        assert len(rows) == 3 and all("note" not in row for row in rows)
        for row in rows:
            assert row["kind"] == "reference" and row["sample"] in builtin
            captions = re.findall(r"<li>(.*?)</li>", row["reference"])
            assert captions == [html_text(c) for c in builtin[row["sample"]].captions]
            assert "Q:" not in row["reference"] and "answers:" not in row["reference"], "a caption task gets captions"
    assert "<th>reference</th>" in html and "beside the references of the same samples" in html
    assert "References are not stored with a run" not in html


def html_text(value: str) -> str:
    import html

    return html.escape(value, quote=True)


def _store_with_workloads(folder, workloads: dict[str, dict]) -> Store:
    """A run whose cells have these flat workload configs and outputs for three built-in photo ids."""
    store = Store.open(folder)
    store.create_run("refs", "refs", {})
    for position, (cell_id, workload) in enumerate(workloads.items()):
        config = {"target.kind": "local", "target.model": "m", "scenario.batch_size": position + 1, **workload}
        store.add_cell("refs", cell_id, position, config, {})
        store.start_cell("refs", cell_id)
        for seq, sample_id in enumerate(["astronaut", "chelsea", "coffee"]):
            store.add_records("refs", cell_id, [(seq, {"batch_size": 1, "sample_ids": [sample_id],
                                                      "outputs": [f"output {seq}"], "latency_s": 0.1 + seq / 100})])
        store.finish_cell("refs", cell_id, {"latency_s": summarize([0.1, 0.11, 0.12])}, {})
    store.set_run_status("refs", "complete")
    return store


def test_a_cell_whose_workload_cannot_be_loaded_again_says_why(tmp_path, monkeypatch):
    """A dataset that is gone and a config that no longer validates: those cells say why beside their
    outputs, the others still get their references, and each distinct workload is loaded once."""
    gone = str(tmp_path / "gone.parquet")
    dataset = {"workload.source": "dataset", "workload.dataset.kind": "parquet", "workload.dataset.path": gone}
    builtin = {"workload.source": "builtin", "workload.limit": 3}
    with _store_with_workloads(tmp_path / "results", {
        "gone1": dataset, "gone2": dataset, "old": {"workload.limit": 0}, "ok1": builtin, "ok2": builtin,
    }):
        pass
    loads = []
    real = sources.load_samples
    monkeypatch.setattr(sources, "load_samples", lambda workload: (loads.append(workload.source), real(workload))[1])
    html = render_run("refs", tmp_path / "results")
    shown = output_rows(html)
    for cell in ("gone1", "gone2"):
        note = shown[cell][-1]["note"]
        assert note.startswith("No references for this cell: no parquet files at ") and html_text(gone) in note
        assert all(row.get("kind") is None for row in shown[cell][:-1]), "outputs without a reference column"
    old = shown["old"][-1]["note"]
    assert "cell old: its stored workload config does not fit this version of vlmperf (limit: " in old
    for cell in ("ok1", "ok2"):
        assert [row["kind"] for row in shown[cell]] == ["reference"] * 3
    assert sorted(loads) == ["builtin", "dataset"], "each distinct workload once per page, a failed one too"


def test_references_are_escaped_and_a_failing_source_never_ends_the_page(tmp_path):
    hostile = References(captions=(SCRIPT, CLOSE), question=IMG, answers=(SCRIPT, SCRIPT, "x"), choices=(IMG, SCRIPT),
                         answer_index=1)

    def references(cell):
        if cell["id"] == "cell1":
            raise RuntimeError(f"lost {IMG}")
        return {"s0": hostile, IMG: References(captions=(CLOSE,))}

    with _hostile_store(tmp_path) as store:
        html = render_html(run_document(store, "hostile"), records=store, references=references)
    page = Page(html)
    assert not page.find("img") and SCRIPT not in html and IMG not in html and "alert(2)</script>" not in html
    assert html.count("</script>") == 3
    rows = output_rows(html)
    first = {row["sample"]: row for row in rows["cell0"]}
    assert "<li>&lt;script&gt;alert(1)&lt;/script&gt;</li>" in first["s0"]["reference"]
    assert "<b>Q:</b> &lt;img src=x onerror=alert(1)&gt;" in first["s0"]["reference"]
    assert "&lt;script&gt;alert(1)&lt;/script&gt; ×2, x" in first["s0"]["reference"], "distinct answers, counted"
    assert '<li class="right">&lt;script&gt;' in first["s0"]["reference"], "the right choice is marked"
    assert first["&lt;img src=x onerror=alert(1)&gt;"]["kind"] == "reference"
    assert first["s2"]["kind"] == "reference missing", "a sample the source does not know is said to be missing"
    assert rows["cell1"][-1]["note"] == "No references for this cell: RuntimeError: lost &lt;img src=x onerror=alert(1)&gt;"


def test_each_task_shows_the_references_it_is_scored_on():
    assert scored_fields("caption") == scored_fields("coco-caption") == {"captions"}
    assert scored_fields("vqa") == {"question", "answers"}
    assert scored_fields("scienceqa-img") == {"question", "choices", "answer_index"}
    mcq = reference_cell(References(question="Which?", choices=("red", "blue"), answer_index=1))
    assert '<li>red</li><li class="right">blue <span class="mark">' in mcq and '<ol class="choices" type="A">' in mcq
    assert reference_cell(References()) == '<td class="reference missing">no reference</td>'
    long = reference_cell(References(captions=("x" * 1500,)))
    assert "[500 more characters]" in long


def test_untrusted_text_is_shown_as_text_never_as_markup(tmp_path):
    with _hostile_store(tmp_path) as store:
        html = render_html(run_document(store, "hostile"), records=store)
    page = Page(html)
    assert not page.find("img"), "an output's <img onerror> must not become an element"
    assert [a.get("type") for t, a in page.tags if t == "script"] == ["application/json", None, None]
    assert SCRIPT not in html and IMG not in html and "alert(2)</script>" not in html
    assert html.count("</script>") == 3, "only our own scripts end; no string closes one early"
    assert "&lt;script&gt;alert(1)&lt;/script&gt; and &lt;img src=x onerror=alert(1)&gt;" in html, "the output is shown"
    assert '<td class="sample">&lt;img src=x onerror=alert(1)&gt;</td>' in html, "sample ids are escaped"
    figure_json = re.search(r'id="vlmperf-figures">(.*?)</script>', html, re.S).group(1)
    assert "<" not in figure_json and ">" not in figure_json, "no string in the JSON can close its element"
    labels = [trace["name"] for trace in json.loads(figure_json)["plot-latency-cdf"]["data"]]
    assert labels[0] == "model=model-&lt;script&gt;alert(1)&lt;/script&gt;", "plotly shows the label as text"


def test_markdown_reports_show_untrusted_text_as_text(tmp_path):
    """A markdown viewer renders raw HTML: config values, errors and the study's lines are escaped."""
    with _hostile_store(tmp_path) as store:
        document = run_document(store, "hostile")
    for markdown in (RENDERERS["md"](document), RENDERERS["study"](document)):
        assert "<script>" not in markdown and "<img" not in markdown
    assert "model-&lt;script&gt;alert(1)&lt;/script&gt;" in RENDERERS["md"](document)


def test_a_failed_cell_shows_its_error_escaped(tmp_path):
    with _hostile_store(tmp_path) as store:
        document = run_document(store, "hostile")
        html = render_html(document, records=store)
    header, rows = table_rows(document)
    failed = rows[[c["id"] for c in document["cells"]].index("broken")]
    assert len(failed) == header.index("status") + 2 and failed[-1].startswith("RuntimeError: boom")
    page = Page(html)
    row = next(r for r in page.rows[1:] if r[0] == "broken")
    assert row[-1] == f"RuntimeError: boom {IMG}\nsecond line {SCRIPT}", "the whole message, as text"
    span = len(header) - header.index("status") - 1
    assert f'<td colspan="{span}">RuntimeError: boom &lt;img' in html, "spanning the figures the cell has not got"
    assert page.find("div", **{"class": "failure", "data-cell": "broken"})


def _endpoint_document():
    """Two providers, each at concurrency 1 and 4: per-provider CDFs, mean bars, sweep plots by concurrency."""
    rng = np.random.default_rng(1)
    cells, records = [], {}
    for provider, base in (("novita", 0.8), ("nebius", 1.2)):
        for concurrency in (1, 4):
            cell_id = f"{provider}-c{concurrency}"
            e2e = rng.lognormal(np.log(base * (1 + concurrency / 10)), 0.2, 400)
            records[cell_id] = [{"backend": "endpoint", "seq": i, "e2e_s": float(v), "sample_ids": [f"s{i}"],
                                 "outputs": [None if i == 0 else f"caption {i}"], "error": {"class": "5xx"} if i == 0 else None}
                                for i, v in enumerate(e2e)]
            config = {"target.kind": "endpoint", "target.model": "Qwen/Qwen2.5-VL-7B-Instruct", "target.provider": provider,
                      "scenario.kind": "concurrent", "scenario.concurrency": concurrency}
            metrics = {"e2e_s": summarize(e2e.tolist()), "ttft_s": summarize((e2e / 3).tolist()),
                       "achieved_rate": {"value": concurrency / base}}
            cells.append({"id": cell_id, "config": config, "swept": {}, "status": "ok", "error": None,
                          "metrics": metrics, "info": {}})
    run = {"id": "ep", "created": "2026-11-22T00:00:00+00:00", "name": "providers", "status": "complete",
           "manifest": {}, "unfinished_cells": []}
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
            "latency_s": summarize(latency.tolist()), "latency_per_sample_s": summarize((latency / batch).tolist()),
            "flops": summarize([10.1e6] * 40), "cider": {"value": cider, "n": 10},
        }
        cell_id = f"local-b{batch}"
        cells.append({"id": cell_id, "config": config, "swept": {}, "status": "ok", "error": None,
                      "metrics": metrics, "info": {"time_s": dict(TIME_S)}})
        records[cell_id] = [{"backend": "local", "seq": i, "latency_s": float(v), "batch_size": batch,
                             "sample_ids": [f"s{i}"], "outputs": [f"caption {i}"]} for i, v in enumerate(latency)]
    run = {"id": "local", "created": "2026-11-22T00:00:00+00:00", "name": "batches", "status": "complete",
           "manifest": {"wall_s": 32.0, "report_s": 1.0}, "unfinished_cells": []}
    return {"run": run, "cells": cells}, records


def _mixed_document():
    """The local and the endpoint runs' cells in one run, and a failed cell: a summary table of both
    kinds' columns, wider than the page."""
    document, records = _local_document()
    endpoint, endpoint_records = _endpoint_document()
    failed = {"id": "broken", "config": {"target.kind": "local", "target.model": "tiny", "scenario.batch_size": 8},
              "swept": {}, "status": "failed", "error": {"type": "RuntimeError", "message": "out of memory " * 30},
              "metrics": {}, "info": {}}
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


def test_pareto_front_keeps_the_cells_no_other_beats_on_both():
    points = [(10.0, 0.5), (20.0, 0.7), (15.0, 0.4), (30.0, 0.7), (5.0, 0.2)]
    assert pareto_front(points) == [4, 0, 1], "cheapest first; (15, 0.4) and (30, 0.7) are beaten"
    errors = [(10.0, 0.3), (20.0, 0.2), (5.0, 0.4)]
    assert pareto_front(errors, lower_is_better=True) == [2, 0, 1], "for wer, lower is better"


def test_script_json_cannot_close_its_element():
    dumped = script_json({"a": CLOSE, "b": "x & y > z"})
    assert "<" not in dumped and ">" not in dumped and "&" not in dumped
    assert json.loads(dumped) == {"a": CLOSE, "b": "x & y > z"}


def test_records_must_be_a_store_or_a_callable():
    document, _ = _endpoint_document()
    with pytest.raises(TypeError, match="Store or a callable"):
        render_html(document, records=[{"e2e_s": 1.0}])


def test_importing_the_renderers_does_not_import_plotly():
    code = "import sys, vlmperf.report.render, vlmperf.report.html; assert 'plotly' not in sys.modules"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).returncode == 0
