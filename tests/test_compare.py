"""`vlmperf compare`: cells matched by config, deltas with a bootstrap interval and a Mann-Whitney
p-value from the records, the direction rule, and the exit code that gates CI.

Synthetic runs are written through the Store API where the distributions must be known exactly;
two real small runs of the built-in model check the whole path. The gate's exit codes come from
the real console script; the other command tests call its entry point in this process.
"""

from __future__ import annotations

import itertools
import json
import math
import re
import subprocess
import sys

import numpy as np
import pytest

import vlmperf.api as vp
from vlmperf.errors import InputError
from vlmperf.metrics.summary import summarize
from vlmperf.report import compare as cmp
from vlmperf.report.schema import run_document
from vlmperf.store.sqlite import Store

from fixtures.cli import run_cli

BASE = {"target.kind": "local", "target.model": "m", "generation.max_new_tokens": 8, "measure.min_runs": 10}


def write_run(out, run_id: str, cells: dict[str, tuple[dict, list[float] | None]]) -> None:
    """A finished run whose cells have exactly these latencies (None: the cell failed)."""
    with Store.open(out) as store:
        store.create_run(run_id, run_id, {})
        for position, (cell_id, (overrides, latencies)) in enumerate(cells.items()):
            config = {**BASE, **overrides}
            store.add_cell(run_id, cell_id, position, config, overrides)
            store.start_cell(run_id, cell_id)
            if latencies is None:
                store.fail_cell(run_id, cell_id, {"type": "OutOfMemoryError", "message": "CUDA out of memory"})
                continue
            records = [{"latency_s": v, "batch_size": 1} for v in latencies]
            store.add_records(run_id, cell_id, list(enumerate(records)))
            store.finish_cell(run_id, cell_id, {"latency_s": summarize(latencies)}, {})
        store.set_run_status(run_id, "complete")


def latencies(mean: float, seed: int, n: int = 40, sd: float = 0.02) -> list[float]:
    return [float(v) for v in np.random.default_rng(seed).normal(mean, sd, n)]


def vlmperf(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "vlmperf", *args],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )


def load(out, run_id: str):
    with Store.open(out, create=False) as store:
        return run_document(store, run_id), store.records(run_id)


# ---------------------------------------------------------------------------------------------
# statistics


def test_mann_whitney_matches_the_textbook_example():
    # SciPy's documented example (mannwhitneyu(males, females, method="asymptotic")): U = 17,
    # p = 0.11134688653314041; by hand: z = (17 - 10 - 0.5) / sqrt(4 * 5 * 10 / 12), p = erfc(z / sqrt 2)
    females, males = np.array([20, 11, 17, 12.0]), np.array([19, 22, 16, 29, 24.0])
    u, p = cmp.mann_whitney(females, males)
    assert u == 17
    assert p == pytest.approx(0.11134688653314041, rel=1e-12)
    assert p == pytest.approx(math.erfc(6.5 / math.sqrt(200 / 12) / math.sqrt(2)), rel=1e-12)


def _enumerate_u(a: list[float], b: list[float]) -> tuple[float, list[float]]:
    """U of B (pairs with b > a, ties one half) for the observed split and for every split of the pooled sample."""

    def u_of(xs, ys):
        return sum((y > x) + 0.5 * (y == x) for x in xs for y in ys)

    pooled = a + b
    every = []
    for chosen in itertools.combinations(range(len(pooled)), len(b)):
        ys = [pooled[i] for i in chosen]
        xs = [pooled[i] for i in range(len(pooled)) if i not in chosen]
        every.append(u_of(xs, ys))
    return u_of(a, b), every


def test_mann_whitney_with_ties_matches_an_exact_enumeration():
    """The tie-corrected variance is the exact variance of U over every split of the pooled sample."""
    a, b = [1.0, 2.0, 2.0, 3.0, 5.0, 5.0, 7.0], [2.0, 4.0, 5.0, 6.0, 7.0, 7.0, 8.0, 9.0]
    u, every = _enumerate_u(a, b)
    mean, variance = float(np.mean(every)), float(np.var(every))
    got_u, got_p = cmp.mann_whitney(np.array(a), np.array(b))
    assert got_u == u
    assert mean == pytest.approx(len(a) * len(b) / 2)
    expected_p = math.erfc((abs(u - mean) - 0.5) / math.sqrt(variance) / math.sqrt(2))
    assert got_p == pytest.approx(expected_p, rel=1e-9)
    exact_p = np.mean([abs(x - mean) >= abs(u - mean) - 1e-9 for x in every])
    assert got_p == pytest.approx(exact_p, abs=0.02), "the normal approximation is close to the exact test"


def test_mann_whitney_of_all_tied_values_is_no_evidence():
    assert cmp.mann_whitney(np.ones(6), np.ones(7)) == (21.0, 1.0)


def test_the_bootstrap_is_seeded_and_its_block_size_changes_nothing(monkeypatch):
    a, b = np.array(latencies(1.0, 1)), np.array(latencies(1.2, 2))
    first = cmp.bootstrap_difference(a, b, "p50")
    assert first == cmp.bootstrap_difference(a, b, "p50")
    monkeypatch.setattr(cmp, "CHUNK_VALUES", 100)  # two resamples at a time
    assert cmp.bootstrap_difference(a, b, "p50") == pytest.approx(first, rel=1e-12)
    low, high = first
    assert low < float(np.median(b) - np.median(a)) < high and low > 0.15


@pytest.mark.parametrize(
    ("metric", "expected"),
    [
        ("latency_s", "lower"),
        ("e2e_s", "lower"),
        ("energy_per_sample_j", "lower"),
        ("peak_memory_bytes", "lower"),
        ("wer", "lower"),
        ("cer", "lower"),
        ("error_rate", "lower"),
        ("cost_usd", "lower"),
        ("flops", "lower"),
        ("throughput_samples_per_s", "higher"),
        ("mfu", "higher"),
        ("cider", "higher"),
        ("vqa_accuracy", "higher"),
        ("acceptance_rate", "higher"),
        ("mean_accepted_tokens", "higher"),
        ("output_tokens", None),
        ("output_chars", None),
        ("captions_per_request", None),
    ],
)
def test_the_direction_rule(metric, expected):
    assert cmp.direction(metric) == expected


def test_a_lower_throughput_is_a_regression_and_more_tokens_is_not():
    slow, fast = np.array(latencies(1.2, 2)), np.array(latencies(1.0, 1))
    assert cmp._test("throughput_samples_per_s", "p50", 1 / fast, 1 / slow)["verdict"] == "slower"
    assert cmp._test("throughput_samples_per_s", "p50", 1 / fast, 1 / slow)["worse"]
    tokens = cmp._test("output_tokens", "mean", fast, slow)
    assert (tokens["verdict"], tokens["worse"]) == ("higher", False)


# ---------------------------------------------------------------------------------------------
# runs


@pytest.fixture
def synthetic(tmp_path):
    out = tmp_path / "results"
    write_run(
        out,
        "A",
        {
            "a1": ({"scenario.batch_size": 1}, latencies(1.0, 1)),
            "a2": ({"scenario.batch_size": 2}, latencies(1.5, 2)),
            "a4": ({"scenario.batch_size": 4}, latencies(2.0, 3)),
        },
    )
    write_run(
        out,
        "SLOWER",
        {
            "b1": ({"scenario.batch_size": 1, "measure.min_runs": 50}, latencies(1.2, 4)),
            "b2": ({"scenario.batch_size": 2}, latencies(1.5, 5)),
            "b8": ({"scenario.batch_size": 8}, latencies(3.0, 6)),
        },
    )
    write_run(
        out,
        "SAME",
        {
            "c1": ({"scenario.batch_size": 1}, latencies(1.0, 7)),
            "c2": ({"scenario.batch_size": 2}, latencies(1.5, 8)),
            "c4": ({"scenario.batch_size": 4}, None),
        },
    )
    return out


def test_a_20_percent_slower_cell_is_flagged_and_unmatched_cells_are_listed(synthetic):
    comparison = cmp.compare_runs(*load(synthetic, "A"), *load(synthetic, "SLOWER"), ["latency_s"])
    json.dumps(comparison)  # JSON-able, for the HTML report
    assert comparison["keys"] == ["scenario.batch_size"]
    rows = {row["config"]["scenario.batch_size"]: row for row in comparison["rows"]}
    assert set(rows) == {1, 2}, "measure.min_runs differs, but it is ignored by default"
    slower = rows[1]
    assert (slower["verdict"], slower["worse"], slower["significant"]) == ("slower", True, True)
    assert slower["delta_pct"] == pytest.approx(20, abs=2)
    assert slower["ci95_delta_pct"][0] > 15 and slower["p_value"] < 1e-6
    assert slower["u_b"] == 40 * 40, "every B value is above every A value"
    same = rows[2]
    assert (same["verdict"], same["worse"]) == ("no significant change", False)
    assert same["ci95_delta"][0] < 0 < same["ci95_delta"][1] and same["p_value"] > 0.05
    assert comparison["unmatched_a"] == [{"cell": "a4", "differs": {"scenario.batch_size": {"a": 4, "b": 8}}}]
    assert comparison["unmatched_b"] == [{"cell": "b8", "differs": {"scenario.batch_size": {"a": 4, "b": 8}}}]
    assert [r["cell_b"] for r in cmp.regressions(comparison, 10)] == ["b1"]
    assert cmp.regressions(comparison, 25) == [], "20% is not past a 25% threshold"


def test_a_failed_cell_is_reported_as_skipped(synthetic):
    comparison = cmp.compare_runs(*load(synthetic, "A"), *load(synthetic, "SAME"), ["latency_s"])
    assert {row["cell_b"] for row in comparison["rows"]} == {"c1", "c2"}
    assert all(row["verdict"] == "no significant change" for row in comparison["rows"])
    assert comparison["skipped"] == [
        {"cell_a": "a4", "cell_b": "c4", "config": {"scenario.batch_size": 4}, "metric": None, "why": "failed in run B"}
    ]


def test_what_cannot_be_compared_is_refused_with_what_can(synthetic):
    doc, records = load(synthetic, "A")
    with pytest.raises(InputError, match="not a per-record metric.*latency_s"):
        cmp.compare_runs(doc, records, doc, records, ["cider"])
    with pytest.raises(InputError, match="--stat 'p75' is not known; use one of: p50, p90, p99, mean"):
        cmp.compare_runs(doc, records, doc, records, stat="p75")
    with pytest.raises(InputError, match="ignore fewer keys"):
        cmp.compare_runs(doc, records, doc, records, ignore=["scenario.batch_size"])


@pytest.mark.slow
def test_the_command_gates_on_regressions(synthetic, vlmperf_env):
    out = ["--out", str(synthetic)]
    flagged = vlmperf("compare", "A", "SLOWER", "--fail-on-regression", "10", *out, env=vlmperf_env)
    assert flagged.returncode == 1, flagged.stderr
    assert "slower" in flagged.stdout and "no significant change" in flagged.stdout
    assert "1 regression(s) past 10%: latency_s of cell b1 (slower)" in flagged.stderr
    assert (
        "cell a4 of run A has no partner in run B (closest differs in scenario.batch_size: 4 in A, 8 in B)"
        in flagged.stderr
    )
    assert vlmperf("compare", "A", "SLOWER", "--fail-on-regression", "25", *out, env=vlmperf_env).returncode == 0
    same = vlmperf("compare", "A", "SAME", "--fail-on-regression", "1", "--format", "json", *out, env=vlmperf_env)
    assert same.returncode == 0, same.stderr
    assert {row["verdict"] for row in json.loads(same.stdout)["rows"]} == {"no significant change"}
    faster = vlmperf("compare", "SLOWER", "A", "--fail-on-regression", "1", *out, env=vlmperf_env)
    assert faster.returncode == 0 and "faster" in faster.stdout


@pytest.mark.slow
def test_runs_that_match_nothing_say_how_to_match(tmp_path, vlmperf_env):
    out = tmp_path / "results"
    write_run(out, "A", {"a1": ({"scenario.batch_size": 1}, latencies(1.0, 1))})
    write_run(out, "B", {"b1": ({"scenario.batch_size": 1, "generation.max_new_tokens": 16}, latencies(1.0, 2))})
    result = vlmperf("compare", "A", "B", "--out", str(out), env=vlmperf_env)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "generation.max_new_tokens: 8 in A, 16 in B" in result.stderr
    assert "error: nothing to compare" in result.stderr and "--ignore KEY" in result.stderr
    matched = vlmperf("compare", "A", "B", "--ignore", "generation.max_new_tokens", "--out", str(out), env=vlmperf_env)
    assert matched.returncode == 0, matched.stderr


QUICK = [
    "measure.min_runs=6",
    "measure.warmup_runs=1",
    "measure.min_duration_s=0",
    "generation.max_new_tokens=3",
    "workload.limit=3",
    "sweep.grid.scenario.batch_size=[1, 2]",
    "measure.flops=false",
]


@pytest.mark.slow
def test_two_real_runs_of_the_built_in_model(tmp_path, monkeypatch, vlmperf_cache, vlmperf_env):
    monkeypatch.setenv("VLMPERF_CACHE", str(vlmperf_cache))
    out = tmp_path / "results"
    first, second = vp.run(overrides=QUICK, out=out), vp.run(overrides=QUICK, out=out)
    # judged even when this shared machine flags the cells unstable: what is checked here is the matching
    comparison = cmp.compare_runs(
        *load(out, first.run_id), *load(out, second.run_id), ["latency_s", "output_tokens"], allow_unstable=True
    )
    assert comparison["unmatched_a"] == comparison["unmatched_b"] == [] and comparison["skipped"] == []
    assert len(comparison["rows"]) == 4
    for row in comparison["rows"]:
        assert row["cell_a"] == row["cell_b"], "the same config is the same cell id"
        assert row["n_a"] >= 6 and row["ci95_delta"] is not None and 0 <= row["p_value"] <= 1
    tokens = [row for row in comparison["rows"] if row["metric"] == "output_tokens"]
    assert all(row["verdict"] == "no significant change" and row["p_value"] == 1 for row in tokens), (
        "greedy, fixed length"
    )
    result = vlmperf("compare", first.run_id, second.run_id, "--allow-unstable", "--out", str(out), env=vlmperf_env)
    assert result.returncode == 0, result.stderr
    assert "scenario.batch_size" in result.stdout and "latency_s" in result.stdout


# ---------------------------------------------------------------------------------------------
# the HTML page

SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"


def page_figures(html: str) -> dict:
    match = re.search(r'<script type="application/json" id="vlmperf-figures">(.*?)</script>', html, re.S)
    assert match, "the figures travel as one JSON script element"
    return json.loads(match.group(1))


def comparison_page(out, a: str, b: str, threshold: float | None = None, metrics=("latency_s",)):
    pytest.importorskip("plotly", reason="the HTML page needs the report extra (plotly)")
    from vlmperf.report.html import render_comparison

    comparison = cmp.compare_runs(*load(out, a), *load(out, b), list(metrics))
    return comparison, render_comparison(comparison, threshold)


def test_the_html_page_has_every_row_a_forest_point_each_and_what_was_not_compared(synthetic):
    comparison, html = comparison_page(synthetic, "A", "SLOWER", 10, ["latency_s", "throughput_samples_per_s"])
    rows = re.findall(r'<tr class="([a-z]+)" data-state="[a-z]+" data-cell-a="([^"]+)" data-cell-b="([^"]+)"', html)
    assert [(a, b) for _, a, b in rows] == [(r["cell_a"], r["cell_b"]) for r in comparison["rows"]]
    assert [state for state, _, _ in rows] == ["regression", "regression", "same", "same"], "b1 is 20% slower"
    assert '<table id="comparison" class="sortable">' in html
    for header in ("scenario.batch_size", "metric", "A", "B", "delta %", "95% CI %", "p", "verdict"):
        assert f'aria-sort="none">{header}</th>' in html
    assert "1001 ms</td>" in html and ">+19.7</td>" in html and ">[+18.5, +20.7]</td>" in html
    forest = page_figures(html)["plot-forest"]
    points = [(x, y) for trace in forest["data"] for x, y in zip(trace["x"], trace["y"], strict=True)]
    assert sorted(y for _, y in points) == list(range(len(comparison["rows"]))), "one point per row, on its own line"
    assert [t["name"] for t in forest["data"]] == ["regression", "no significant change"]
    assert forest["layout"]["yaxis"]["ticktext"][0] == "batch_size=1, latency_s"
    regression = forest["data"][0]
    assert regression["error_x"]["array"][0] > 0 and regression["error_x"]["arrayminus"][0] > 0
    plotly = pytest.importorskip("plotly")
    plotly.graph_objects.Figure(forest)  # raises on anything plotly.js would not understand
    assert (
        "cell a4 of run A has no partner in run B; the closest differs in scenario.batch_size: 4 in A, 8 in B" in html
    )
    assert "resamples: 2000; seed: " in html and "Mann-Whitney U, two-sided" in html, "the method"
    _, skipped = comparison_page(synthetic, "A", "SAME")
    assert '<section id="skipped">' in skipped and "cell a4 (A) and c4 (B)" in skipped and "failed in run B" in skipped


def test_the_threshold_line_is_drawn_only_with_the_option(synthetic):
    def dashed(html):
        return [s["x0"] for s in page_figures(html)["plot-forest"]["layout"]["shapes"] if s["line"]["dash"] == "dash"]

    _, gated = comparison_page(synthetic, "A", "SLOWER", 25)
    assert dashed(gated) == [25], "latency: lower is better, so the bad side is +25%"
    assert "the dashed line is the --fail-on-regression threshold (25%)" in gated
    assert 'class="worse"' in gated and 'class="regression"' not in gated, "20% slower is within a 25% gate"
    _, both = comparison_page(synthetic, "A", "SLOWER", 5, ["latency_s", "throughput_samples_per_s"])
    assert sorted(dashed(both)) == [-5, 5], "throughput: higher is better, so its bad side is -5%"
    _, plain = comparison_page(synthetic, "A", "SLOWER")
    shapes = page_figures(plain)["plot-forest"]["layout"]["shapes"]
    assert dashed(plain) == [] and [s["x0"] for s in shapes] == [0], "only the line at no change"
    assert 'class="regression"' in plain, "without a gate, a significantly worse row is a regression"


def test_hostile_run_names_and_config_values_are_escaped(tmp_path):
    out = tmp_path / "results"
    cells = {
        "h1": ({"target.model": SCRIPT}, latencies(1.0, 1)),
        "h2": ({"target.model": IMG}, latencies(1.0, 2)),
        "h3": ({"target.model": f"</script>{IMG}"}, None),
    }
    write_run(out, SCRIPT, cells)
    write_run(out, IMG, {**cells, "h4": ({"target.model": f"only {SCRIPT}"}, latencies(1.0, 3))})
    _, html = comparison_page(out, SCRIPT, IMG, 5)
    assert SCRIPT not in html and IMG not in html and "</script><img" not in html
    assert html.count("</script>") == 3, "only the page's own scripts end"
    assert "<title>vlmperf compare &lt;img src=x onerror=alert(1)&gt; against &lt;script&gt;" in html
    assert "<td>&lt;script&gt;alert(1)&lt;/script&gt;</td>" in html, "a config value in the table"
    assert "cell h4 of run B has no partner in run A; the closest differs in target.model: " in html
    figures = re.search(r'id="vlmperf-figures">(.*?)</script>', html, re.S).group(1)
    assert "<" not in figures and ">" not in figures
    ticks = json.loads(figures)["plot-forest"]["layout"]["yaxis"]["ticktext"]
    assert ticks[0] == "model=&lt;script&gt;alert(1)&lt;/script&gt;, latency_s", "plotly shows labels as text"


@pytest.mark.slow
def test_the_command_writes_html_json_or_a_table_to_a_file_and_still_gates(synthetic, tmp_path, vlmperf_env):
    pytest.importorskip("plotly", reason="the HTML page needs the report extra (plotly)")
    out = ["--out", str(synthetic)]
    page = tmp_path / "compare.html"
    gated = vlmperf(
        "compare",
        "A",
        "SLOWER",
        "--format",
        "html",
        "-o",
        str(page),
        "--fail-on-regression",
        "10",
        *out,
        env=vlmperf_env,
    )
    assert gated.returncode == 1, gated.stderr
    assert f"wrote {page}" in gated.stderr and "1 regression(s) past 10%" in gated.stderr
    assert page.read_text().startswith("<!DOCTYPE html>") and 'id="plot-forest"' in page.read_text()
    assert gated.stdout == "", "the page went to the file"
    document = tmp_path / "compare.json"
    same = run_cli("compare", "A", "SAME", "-f", "json", "-o", str(document), *out, env=vlmperf_env)
    assert same.returncode == 0 and json.loads(document.read_text())["rows"]
    table = tmp_path / "compare.txt"
    assert vlmperf("compare", "A", "SLOWER", "-o", str(table), *out, env=vlmperf_env).returncode == 0
    assert "no significant change" in table.read_text() and "slower" in table.read_text()
    bad = vlmperf("compare", "A", "SLOWER", "--format", "csv", *out, env=vlmperf_env)
    assert bad.returncode == 2 and "use one of: table, json, html" in bad.stderr
