"""Render a run document as a terminal table, markdown, JSON or CSV."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import orjson
from rich.console import Console
from rich.table import Table

from vlmperf.report.export import csv_text
from vlmperf.report.module_profile import module_profile_table, render_module_profile_markdown, run_profiles
from vlmperf.report.tables import markdown_cell, stability_lines, summary_table, wide_rows
from vlmperf.report.time_budget import budget_rows, time_budget


def _title(document: dict[str, Any]) -> str:
    run = document["run"]
    status = "" if run["status"] == "complete" else f" [{run['status']}]"
    return f"run {run['id']} ({run['name']}){status}"


def rich_table(document: dict[str, Any]) -> Table:
    header, rows = summary_table(document)
    table = Table(title=_title(document), title_justify="left")
    for column in header:
        numeric = column not in ("cell", "status") and "." not in column
        table.add_column(column, justify="right" if numeric else "left", overflow="fold")
    for row in rows:
        table.add_row(*row)
    return table


def time_budget_table(budget: dict[str, Any]) -> Table:
    table = Table(title="time budget (where the run's wall time went)", title_justify="left")
    for column in ("phase", "s", "share"):
        table.add_column(column, justify="left" if column == "phase" else "right")
    for row in budget_rows(budget):
        table.add_row(*row)
    return table


def render_table(document: dict[str, Any]) -> str:
    console = Console(file=io.StringIO(), width=250, record=True, color_system=None)
    console.print(rich_table(document))
    for line in stability_lines(document):
        console.print(line, markup=False, highlight=False)
    profiles = run_profiles(document)
    if profiles:
        console.print(module_profile_table(profiles))
    budget = time_budget(document)
    if budget is not None:
        console.print(time_budget_table(budget))
    return console.export_text()


def render_markdown(document: dict[str, Any]) -> str:
    header, rows = summary_table(document)
    lines = [f"### {markdown_cell(_title(document))}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(markdown_cell(v) for v in row) + " |" for row in rows]
    if flagged := stability_lines(document):
        lines += ["", *(f"- {markdown_cell(line)}" for line in flagged)]
    profiles = run_profiles(document)
    if profiles:
        lines += ["", render_module_profile_markdown(profiles)]
    budget = time_budget(document)
    if budget is not None:
        lines += ["", "#### time budget", "", "| phase | s | share |", "|---|---|---|"]
        lines += [f"| {' | '.join(row)} |" for row in budget_rows(budget)]
    return "\n".join(lines) + "\n"


def render_json(document: dict[str, Any]) -> str:
    return orjson.dumps(document, option=orjson.OPT_INDENT_2).decode() + "\n"


def render_csv(document: dict[str, Any]) -> str:
    return csv_text(*wide_rows(document))


def render_study(document: dict[str, Any]) -> str:
    """The studies' markdown tables (`vlmperf.report.study_tables`): providers, and local points."""
    from vlmperf.report.study_tables import render_study_markdown

    return render_study_markdown(document)


def render_html(document: dict[str, Any], records: Any = None) -> str:
    """The self-contained HTML report (`vlmperf.report.html`); imported here only, so plotly is
    loaded only for HTML. `records`: the Store (or cell id -> records callable) to draw CDFs and outputs from."""
    from vlmperf.report.html import render_html as html

    return html(document, records)


RENDERERS: dict[str, Callable[[dict[str, Any]], str]] = {
    "table": render_table,
    "md": render_markdown,
    "json": render_json,
    "csv": render_csv,
    "html": render_html,
    "study": render_study,
}
