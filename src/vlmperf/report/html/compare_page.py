"""The comparison of two runs as one self-contained page (`vlmperf compare A B --format html`).

Built from the dict `report.compare.compare_runs` returns: a header naming both runs, how the
figures were computed (its `method`), a sortable table of the compared rows with regressions
highlighted, the forest plot of the changes, and the rows that were skipped and the cells that
found no partner. It shares the run page's skeleton, style and script (`page.html_page`), and
every run name, config value, cell id and reason passes through `escape.text`.
"""

from __future__ import annotations

from typing import Any

from vlmperf.report.compare_view import COLUMNS, differs_text, row_keys, row_states, row_texts
from vlmperf.report.html.cells import short_names
from vlmperf.report.html.escape import text
from vlmperf.report.html.page import html_page
from vlmperf.report.html.plots_forest import forest_plot
from vlmperf.report.html.sections import plot_block
from vlmperf.report.html.table import Cell, sortable_table


def _run(side: dict[str, Any]) -> str:
    return f'{text(side["run_id"])} <span class="meta">({text(side["name"])})</span>'


def header(comparison: dict[str, Any], states: list[str], threshold_pct: float | None) -> str:
    count = states.count("regression")
    gate = f"past {threshold_pct:g}% (--fail-on-regression)" if threshold_pct is not None else "(significantly worse)"
    meta = (
        f"{text(comparison['stat'])} of {text(', '.join(comparison['metrics']))} · {len(comparison['rows'])} row(s) "
        f"compared · <b>{count} regression(s)</b> {text(gate)} · keys ignored when matching cells: "
        f"{text(', '.join(comparison['ignored_keys'])) or 'none'}"
    )
    return (
        f"<header><h1>vlmperf compare: run B {_run(comparison['b'])} against run A {_run(comparison['a'])}</h1>"
        f'<p class="meta">{meta}</p></header>'
    )


def method(comparison: dict[str, Any]) -> str:
    """The `method` of the comparison, every setting listed as it is in the JSON."""
    items = []
    for name, value in comparison["method"].items():
        if isinstance(value, dict):
            settings = "; ".join(f"{text(k)}: {text(v)}" for k, v in value.items())
            items.append(f"<li><b>{text(name)}</b>: {settings}</li>")
        else:
            items.append(f"<li><b>{text(name)}</b>: {text(value)}</li>")
    return (
        '<section id="method"><h2>Method</h2><p class="caption">Cells are matched by their config; each metric is '
        "compared on the records. The change is significant when the bootstrap interval of the difference "
        f"excludes 0.</p><ul>{''.join(items)}</ul></section>"
    )


def _row_cells(row: dict[str, Any], keys: list[str]) -> list[Cell]:
    """The row's texts, the figures paired with the numbers they sort by (the interval by its low end)."""
    texts = row_texts(row, keys)
    low_high = row["ci95_delta_pct"]
    numbers = [row["a"], row["b"], row["delta_pct"], low_high[0] if low_high else None, row["p_value"]]
    first = len(keys) + 1  # after the keys and the metric
    return [*texts[:first], *zip(texts[first : first + 5], numbers, strict=True), *texts[first + 5 :]]


def rows_table(comparison: dict[str, Any], states: list[str]) -> str:
    keys = row_keys(comparison)
    rows = [
        (
            _row_cells(row, keys),
            {
                "class": state,
                "data-state": state,
                "data-cell-a": row["cell_a"],
                "data-cell-b": row["cell_b"],
                "title": f"cell {row['cell_a']} (A, n={row['n_a']}) against cell {row['cell_b']} (B, n={row['n_b']})",
            },
        )
        for row, state in zip(comparison["rows"], states, strict=True)
    ]
    caption = (
        "Click a column to sort. A and B are each run's statistic (times in ms); delta % is B against A, with "
        "its 95% bootstrap interval; p is the Mann-Whitney U test's. Regressions are highlighted."
    )
    if not rows:
        caption = "No matched pair of finished cells measured these metrics in both runs: see below for why."
    return (
        f'<section id="rows"><h2>Rows</h2><p class="caption">{text(caption)}</p>'
        f'<div class="table-wrap">{sortable_table("comparison", [*keys, *COLUMNS], rows)}</div></section>'
    )


def not_compared(comparison: dict[str, Any]) -> str:
    """The skipped rows and the cells without a partner, with why / how they differ."""
    skipped = [
        f'<li data-cell-a="{text(s["cell_a"])}">cell {text(s["cell_a"])} (A) and {text(s["cell_b"])} (B)'
        + (f", {text(s['metric'])}" if s.get("metric") else "")
        + (
            f' <span class="meta">({text(", ".join(f"{k}={v}" for k, v in s["config"].items()))})</span>'
            if s["config"]
            else ""
        )
        + f": {text(s['why'])}</li>"
        for s in comparison["skipped"]
    ]
    unmatched = [
        f'<li data-side="{side}" data-cell="{text(entry["cell"])}">cell {text(entry["cell"])} of run {side.upper()} '
        f"has no partner in run {other}"
        + (f"; the closest differs in {text(differs_text(entry['differs']))}" if entry["differs"] else "")
        + "</li>"
        for side, other in (("a", "B"), ("b", "A"))
        for entry in comparison[f"unmatched_{side}"]
    ]
    parts = []
    if skipped:
        parts.append(
            f'<section id="skipped"><h2>Skipped</h2><p class="caption">Matched, but not compared.</p>'
            f"<ul>{''.join(skipped)}</ul></section>"
        )
    if unmatched:
        parts.append(
            '<section id="unmatched"><h2>Cells without a partner</h2><p class="caption">Each with how it differs '
            "from the closest cell of the other run: `vlmperf compare --ignore KEY` matches cells that differ "
            f"in KEY.</p><ul>{''.join(unmatched)}</ul></section>"
        )
    return "".join(parts)


def render_comparison(comparison: dict[str, Any], fail_on_regression: float | None = None) -> str:
    """The page of a comparison; `fail_on_regression` (percent) draws the gate's threshold and sets
    which significantly worse rows count as regressions."""
    states = row_states(comparison, fail_on_regression)
    keys = row_keys(comparison)
    plot = forest_plot(comparison, states, keys, short_names(keys), fail_on_regression)
    plots = [plot] if plot is not None else []
    title = f"vlmperf compare {comparison['b']['run_id']} against {comparison['a']['run_id']}"
    return html_page(
        title,
        [
            header(comparison, states, fail_on_regression),
            rows_table(comparison, states),
            f'<section id="forest"><h2>Changes</h2>{plot_block(plot)}</section>' if plot is not None else "",
            not_compared(comparison),
            method(comparison),
        ],
        plots,
    )
