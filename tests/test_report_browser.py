"""The HTML report in a real browser: Playwright driving the system Chromium, headless, offline.

The page is opened from a file with every network request refused; it must log no console error,
draw every plot (one drawn trace element per trace the figure declares), sort its table on a
click, and show hostile model outputs as text that never runs. At 1400 px the page must not
scroll sideways: the summary table fits, or scrolls inside its wrapper with each row's cell id
in view; no plot's axis repeats one label. A screenshot of the page is kept in test-artifacts/
for a person to look at. `.ci/run` installs Chromium; on a machine without it this module is
skipped, except under CI, where a missing browser is a failure.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

import vlmperf.api as vp
from vlmperf.report.html import render_html
from vlmperf.report.schema import run_document
from vlmperf.store.sqlite import Store

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
QUICK = [
    "measure.min_runs=3",
    "measure.warmup_runs=0",
    "measure.min_duration_s=0",
    "generation.max_new_tokens=3",
    "workload.limit=3",
    "sweep.grid.scenario.batch_size=[1, 2, 3]",
    "target.peak_flops_per_s=1e11",
    "target.peak_memory_bandwidth_bytes_per_s=2e10",
]
"""Peaks given for this CPU, so the roofline has a roof to draw."""

if not Path(CHROMIUM).exists():
    if os.environ.get("CI"):
        raise RuntimeError("the browser tests need Chromium: .ci/run installs it (apt-get install chromium)")
    pytest.skip("no Chromium here (apt-get install chromium); CI installs it", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="the browser tests need playwright (the test extra)")


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        yield launched
        launched.close()


def open_offline(browser, path: Path):
    """The page from its file, with any request that leaves the file refused and recorded."""
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    refused, console_errors = [], []
    page.route(
        "**/*",
        lambda route: (
            route.continue_()
            if route.request.url.startswith("file://")
            else (refused.append(route.request.url), route.abort())
        ),
    )
    page.on("console", lambda message: console_errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: console_errors.append(str(error)))
    page.goto(path.as_uri())
    page.wait_for_load_state("load")
    return page, refused, console_errors


def assert_fits_the_page(page) -> None:
    """Nothing makes the page scroll sideways (a wide table scrolls inside its own wrapper)."""
    width, viewport = page.evaluate("() => [document.scrollingElement.scrollWidth, innerWidth]")
    assert width <= viewport, f"the page is {width} px wide in a {viewport} px window"


def summary_overflow(page) -> int:
    """How many pixels of the summary table its wrapper hides (0: it fits)."""
    return page.evaluate(
        "() => { const w = document.querySelector('#cells .table-wrap'); return w.scrollWidth - w.clientWidth; }"
    )


def y_tick_labels(page) -> dict[str, list[str]]:
    """Each drawn plot's y tick labels, once every plot has drawn its axes."""
    page.wait_for_function(
        "() => [...document.querySelectorAll('div.plot')].every(d => d.querySelector('.ytick text'))"
    )
    return page.evaluate(
        "() => Object.fromEntries([...document.querySelectorAll('div.plot')].map(d => "
        "[d.id, [...d.querySelectorAll('.ytick text')].map(t => t.textContent)]))"
    )


def assert_no_axis_repeats_one_label(page) -> None:
    for plot, labels in y_tick_labels(page).items():
        assert len(labels) < 2 or len(set(labels)) > 1, f"{plot}: every y tick reads {labels[0]}"


def assert_sorts_on_click(page, table: str, column_header: str) -> int:
    """Click a column's header twice: its values come out ascending, then descending. Returns the row count."""
    header = page.locator(f"table#{table} thead th", has_text=column_header)
    column = int(header.get_attribute("data-col"))

    def values():
        cells = page.locator(f"table#{table} tbody tr td:nth-child({column + 1})")
        return [float(cells.nth(i).get_attribute("data-sort")) for i in range(cells.count())]

    header.click()
    assert values() == sorted(values())
    header.click()
    assert values() == sorted(values(), reverse=True)
    return len(values())


@pytest.fixture(scope="module")
def report_file(tmp_path_factory, vlmperf_cache):
    out = tmp_path_factory.mktemp("results")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("VLMPERF_CACHE", str(vlmperf_cache))
        outcome = vp.run(overrides=QUICK, out=out)
    with Store.open(out, create=False) as store:
        html = render_html(run_document(store, outcome.run_id), records=store)
    path = out / "report.html"
    path.write_text(html)
    return path


@pytest.mark.slow
def test_every_plot_is_drawn_offline_without_console_errors(browser, report_file):
    page, refused, console_errors = open_offline(browser, report_file)
    plots = page.locator("div.plot")
    assert plots.count() >= 3, "the batch-size sweep has its plots"
    page.wait_for_function(
        "() => [...document.querySelectorAll('div.plot')].every(d => d.classList.contains('js-plotly-plot'))"
    )
    for index in range(plots.count()):
        plot = plots.nth(index)
        declared = int(plot.get_attribute("data-traces"))
        drawn = plot.locator("g.trace, g.barlayer g.trace, g.scatterlayer g.trace").count()
        name = plot.get_attribute("data-plot")
        assert drawn >= declared > 0, f"plot {name} ({plot.get_attribute('id')}): {drawn} drawn of {declared} traces"
    assert refused == [], "the page asks for nothing outside its file"
    assert console_errors == []
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "report-html.png"), full_page=True)
    page.close()


@pytest.mark.slow
def test_the_roofline_draws_each_cell_under_its_roof_and_hovers_its_limit(browser, report_file):
    page, _, console_errors = open_offline(browser, report_file)
    page.wait_for_function("() => document.getElementById('plot-roofline').classList.contains('js-plotly-plot')")
    roofline = page.locator("#plot-roofline")
    assert roofline.get_attribute("data-roofs") == "1"
    assert roofline.locator(".scatterlayer .trace .point").count() == 3 + 1, "a point per cell, and the ridge"
    assert roofline.locator(".scatterlayer .trace path.js-line").count() == 1, "the roof"
    assert roofline.locator(".legendtext", has_text="roof of cpu: 100 GFLOP/s, 20 GB/s").count() == 1
    last_cell = roofline.locator(".scatterlayer .trace").last.locator(".point")
    last_cell.hover(force=True, timeout=5000)  # forced: plotly's drag layer takes the pointer and hovers by position
    hover = roofline.locator(".hoverlayer")
    hover.get_by_text("limit_ratio", exact=False).wait_for(timeout=5000)
    shown = hover.text_content()  # SVG text: no inner_text
    assert "batch_size=3" in shown and re.search(r"limit_ratio \d+(\.\d+)?x", shown) and "mbu " in shown
    assert console_errors == []
    ARTIFACTS.mkdir(exist_ok=True)
    roofline.locator("xpath=..").screenshot(path=str(ARTIFACTS / "report-roofline.png"))
    page.close()


@pytest.mark.slow
def test_the_summary_table_sorts_on_a_click(browser, report_file):
    page, _, _ = open_offline(browser, report_file)
    assert_sorts_on_click(page, "summary", "latency_ms p50")
    page.close()


@pytest.mark.slow
def test_the_page_fits_1400_px_and_no_axis_repeats_one_label(browser, report_file):
    page, _, _ = open_offline(browser, report_file)
    assert_fits_the_page(page)
    assert summary_overflow(page) <= 0, "the default run's table needs no scrolling"
    assert_no_axis_repeats_one_label(page)
    page.close()


@pytest.mark.slow
def test_the_time_budget_bar_adds_up_to_the_whole_run(browser, report_file):
    page, _, _ = open_offline(browser, report_file)
    bar = page.locator("#time-budget .budget-bar")
    segments = bar.locator(".segment")
    assert segments.count() >= 3, "at least load, the timed windows and scoring"
    widths = [segments.nth(i).bounding_box()["width"] for i in range(segments.count())]
    inner = bar.evaluate("b => b.clientWidth")
    assert sum(widths) == pytest.approx(inner, rel=0.01), "the segments fill the bar"
    shares = [float(segments.nth(i).get_attribute("data-share")) for i in range(segments.count())]
    assert sum(shares) == pytest.approx(1, abs=1e-4), "of the whole run"
    assert "outside load, warm-up and the timed windows" in page.locator("#time-budget .caption").inner_text()
    page.close()


@pytest.mark.slow
def test_the_table_fits_with_every_stability_flag_raised(browser, report_file, tmp_path):
    """The `stability` column at its longest (a cv and all three flags) still fits at 1400 px."""
    with Store.open(report_file.parent, create=False) as store:
        document = run_document(store, "latest")
    for cell in document["cells"]:
        cell["stability"] = {"cv": 0.234, "flags": ["noisy", "contended", "throttled"], "reasons": {}}
    path = tmp_path / "stability.html"
    path.write_text(render_html(document))
    page, _, _ = open_offline(browser, path)
    assert page.locator("#summary thead th", has_text="stability").count() == 1
    assert page.locator("#summary tbody td", has_text="cv 23.4% noisy contended throttled").count() == len(
        document["cells"]
    )
    assert summary_overflow(page) <= 0
    assert_fits_the_page(page)
    page.close()


def _synthetic_page(tmp_path, make) -> Path:
    document, records = make()
    path = tmp_path / f"{document['run']['id']}.html"
    path.write_text(render_html(document, records=lambda cell_id: records[cell_id]))
    return path


@pytest.mark.slow
def test_a_table_wider_than_the_page_scrolls_with_its_cells_named(browser, tmp_path):
    """Local and endpoint columns in one table: it scrolls in its wrapper, and each row's id and swept keys
    stay in view, not covered by the figures scrolled under them."""
    from test_report_html_parts import _mixed_document

    page, _, console_errors = open_offline(browser, _synthetic_page(tmp_path, _mixed_document))
    assert summary_overflow(page) > 0, "wider than the page"
    assert_fits_the_page(page)
    wrap = page.locator("#cells .table-wrap")
    wrap.evaluate("w => { w.scrollLeft = w.scrollWidth; }")
    left = wrap.bounding_box()["x"]
    rows = page.locator("#summary tbody tr")
    for index in range(rows.count()):
        for column in (0, 3):  # the cell's id, and the last pinned column (batch_size)
            cell = rows.nth(index).locator("td").nth(column)
            box = cell.bounding_box()
            assert box["x"] >= left - 1, f"row {index}, column {column} scrolled away"
            shown = page.evaluate(
                "([x, y]) => document.elementFromPoint(x, y).textContent", [box["x"] + box["width"] / 2, box["y"] + 4]
            )
            assert shown == cell.text_content(), f"row {index}, column {column} is covered"
    page.locator("#summary thead th", has_text="e2e_ms p50").click()
    order = rows.evaluate_all("rows => rows.map(r => r.getAttribute('data-cell'))")
    assert order[:4] == ["novita-c1", "novita-c4", "nebius-c1", "nebius-c4"] and "broken" in order[4:], (
        "the numbers first; the failed cell, its error spanning the column, among the cells without one"
    )
    assert console_errors == []
    ARTIFACTS.mkdir(exist_ok=True)
    page.locator("#cells").screenshot(path=str(ARTIFACTS / "report-wide-table.png"))
    page.close()


@pytest.mark.slow
def test_a_one_cell_frontier_is_drawn_and_a_flat_plot_is_a_line(browser, tmp_path):
    from test_report_html_parts import _local_document

    page, _, console_errors = open_offline(browser, _synthetic_page(tmp_path, _local_document))
    assert_no_axis_repeats_one_label(page)
    quality = page.locator("#plot-quality-cider-vs-latency")
    assert quality.locator(".legendtext", has_text="Pareto frontier").count() == 1
    frontier = quality.locator(".scatterlayer .trace").nth(1)  # after the cells' points
    assert frontier.locator(".point").count() == 1, "the one cell on the frontier is ringed"
    assert frontier.locator(".point").first.get_attribute("d"), "with a drawn marker"
    assert page.locator(".flat-plots li", has_text="flops p50 is 10.1 MFLOP at every scenario.batch_size").count() == 1
    assert console_errors == []
    page.close()


@pytest.mark.slow
def test_hostile_outputs_are_shown_as_text_and_never_run(browser, tmp_path):
    """Outputs, sample ids, config values and an error message carrying <script>alert(1)</script> and
    <img src=x onerror=alert(1)>: any of them running would open an alert dialog."""
    from test_report_html import IMG, SCRIPT, _hostile_store

    with _hostile_store(tmp_path) as store:
        html = render_html(run_document(store, "hostile"), records=store)
    path = tmp_path / "hostile.html"
    path.write_text(html)
    dialogs = []
    page = browser.new_page()
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(path.as_uri())
    page.wait_for_load_state("load")
    assert dialogs == [], "no untrusted text ran as code"
    assert page.locator("img").count() == 0
    shown = page.locator("#outputs").inner_text()
    assert SCRIPT in shown and IMG in shown, "the output is shown, as text"
    assert IMG in page.locator("#failures").inner_text(), "so is the error message"
    page.close()


@pytest.fixture(scope="module")
def compare_file(tmp_path_factory):
    """Two synthetic runs of four batch sizes, B slower at 1 and faster at 4, compared on two metrics."""
    from test_compare import latencies, load, write_run

    from vlmperf.report.compare import compare_runs
    from vlmperf.report.html import render_comparison

    out = tmp_path_factory.mktemp("compare")
    write_run(out, "A", {f"a{n}": ({"scenario.batch_size": n}, latencies(n, n)) for n in (1, 2, 3, 4)})
    change = {1: 1.2, 2: 1.0, 3: 1.01, 4: 0.9}
    write_run(out, "B", {f"b{n}": ({"scenario.batch_size": n}, latencies(n * change[n], 10 + n)) for n in (1, 2, 3, 4)})
    comparison = compare_runs(*load(out, "A"), *load(out, "B"), ["latency_s", "throughput_samples_per_s"])
    path = out / "compare.html"
    path.write_text(render_comparison(comparison, fail_on_regression=5))
    return path, comparison


@pytest.mark.slow
def test_the_comparison_page_draws_a_point_per_row_and_sorts_its_table(browser, compare_file):
    path, comparison = compare_file
    page, refused, console_errors = open_offline(browser, path)
    page.wait_for_function("() => document.getElementById('plot-forest').classList.contains('js-plotly-plot')")
    forest = page.locator("#plot-forest")
    assert forest.locator(".scatterlayer .point").count() == len(comparison["rows"]) == 8, "one point per row"
    assert forest.locator(".errorbar").count() == len(comparison["rows"]), "each with its interval"
    assert forest.locator(".shapelayer path").count() == 3, "no change at 0, and -5% and +5% for the two directions"
    assert refused == [] and console_errors == []
    regressions = page.locator("table#comparison tbody tr.regression")
    assert regressions.count() == 2, "batch size 1 is 20% slower: its latency and its throughput"
    assert (
        regressions.first.locator("td").first.evaluate("td => getComputedStyle(td).backgroundColor")
        != "rgba(0, 0, 0, 0)"
    )

    assert assert_sorts_on_click(page, "comparison", "delta %") == 8
    assert_fits_the_page(page)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "compare-html.png"), full_page=True)
    page.close()
