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
from vlmperf.report.html.escape import script_json
from vlmperf.report.html.references import reference_cell, scored_fields
from vlmperf.report.html.table import table_rows
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
        [
            sys.executable,
            "-m",
            "vlmperf",
            "report",
            document["run"]["id"],
            "--format",
            "html",
            "-o",
            str(target),
            "--out",
            str(out),
        ],
        env=vlmperf_env,
        capture_output=True,
        text=True,
        timeout=120,
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
            store.add_records(
                "hostile",
                cell_id,
                [
                    (
                        seq,
                        {
                            "batch_size": 1,
                            "sample_ids": [IMG if seq == 1 else f"s{seq}"],
                            "outputs": outputs,
                            "latency_s": float(latency),
                        },
                    )
                ],
            )
        store.finish_cell("hostile", cell_id, {"latency_s": summarize(latencies.tolist())}, {})
    store.add_cell("hostile", "broken", 2, {"target.kind": "local", "target.model": "x", "scenario.batch_size": 1}, {})
    store.start_cell("hostile", "broken")
    store.fail_cell("hostile", "broken", {"type": "RuntimeError", "message": f"boom {IMG}\nsecond line {SCRIPT}"})
    return store


OUTPUT_ROW = re.compile(
    r'<tr><td class="sample">(?P<sample>.*?)</td><td class="output[^"]*">(?P<output>.*?)</td>'
    r'(?:<td class="(?P<kind>reference[^"]*)">(?P<reference>.*?)</td>)?</tr>',
    re.S,
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
            store.add_records(
                "refs",
                cell_id,
                [
                    (
                        seq,
                        {
                            "batch_size": 1,
                            "sample_ids": [sample_id],
                            "outputs": [f"output {seq}"],
                            "latency_s": 0.1 + seq / 100,
                        },
                    )
                ],
            )
        store.finish_cell("refs", cell_id, {"latency_s": summarize([0.1, 0.11, 0.12])}, {})
    store.set_run_status("refs", "complete")
    return store


def test_a_cell_whose_workload_cannot_be_loaded_again_says_why(tmp_path, monkeypatch):
    """A dataset that is gone and a config that no longer validates: those cells say why beside their
    outputs, the others still get their references, and each distinct workload is loaded once."""
    gone = str(tmp_path / "gone.parquet")
    dataset = {"workload.source": "dataset", "workload.dataset.kind": "parquet", "workload.dataset.path": gone}
    builtin = {"workload.source": "builtin", "workload.limit": 3}
    with _store_with_workloads(
        tmp_path / "results",
        {
            "gone1": dataset,
            "gone2": dataset,
            "old": {"workload.limit": 0},
            "ok1": builtin,
            "ok2": builtin,
        },
    ):
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
    hostile = References(
        captions=(SCRIPT, CLOSE), question=IMG, answers=(SCRIPT, SCRIPT, "x"), choices=(IMG, SCRIPT), answer_index=1
    )

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
    assert (
        rows["cell1"][-1]["note"]
        == "No references for this cell: RuntimeError: lost &lt;img src=x onerror=alert(1)&gt;"
    )


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


def test_script_json_cannot_close_its_element():
    dumped = script_json({"a": CLOSE, "b": "x & y > z"})
    assert "<" not in dumped and ">" not in dumped and "&" not in dumped
    assert json.loads(dumped) == {"a": CLOSE, "b": "x & y > z"}


def test_importing_the_renderers_does_not_import_plotly():
    code = "import sys, vlmperf.report.render, vlmperf.report.html; assert 'plotly' not in sys.modules"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).returncode == 0
