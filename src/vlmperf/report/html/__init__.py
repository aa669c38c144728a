"""The HTML report of a run: one self-contained file with the summary table, plots and outputs.

    from vlmperf.report.html import render_html
    html = render_html(document, records=store)        # a Store: its records of the run are read
    html = render_html(document, records=lambda cell_id: ...)  # or any cell id -> records callable

Without `records` the page is built from the document alone (no latency CDFs, no outputs).
`render_run` opens a results folder and does both. plotly is imported only when a page is built.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vlmperf.report.html.cells import run_view
from vlmperf.report.html.page import page
from vlmperf.report.html.plots import choose_plots
from vlmperf.report.html.records import RecordSource, record_source

__all__ = ["RecordSource", "render_html", "render_run"]


def render_html(document: dict[str, Any], records: Any = None) -> str:
    """The page for a run document (`report.schema.run_document`).

    `records` gives each cell's records: a `Store` holding the run, a callable taking a cell id
    and returning that cell's records, or None. Records are reduced cell by cell (CDF points,
    the first outputs) and never embedded.
    """
    view = run_view(document, record_source(records, document["run"]["id"]))
    return page(view, choose_plots(view))


def render_run(run_id: str = "latest", out: str | Path | None = None) -> str:
    """The page of a stored run, its records included (what `vlmperf report --format html` needs)."""
    from vlmperf.report.schema import run_document
    from vlmperf.store.sqlite import DEFAULT_DIR, Store

    with Store.open(out if out is not None else DEFAULT_DIR, create=False) as store:
        return render_html(run_document(store, run_id), records=store)
