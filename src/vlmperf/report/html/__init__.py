"""The HTML pages: a run's report and a comparison of two runs, each one self-contained file.

    from vlmperf.report.html import render_html, render_comparison
    html = render_html(document, records=store)        # a Store: its records of the run are read
    html = render_html(document, records=lambda cell_id: ...)  # or any cell id -> records callable
    html = render_html(document, records=store, references=lambda cell: {...})  # sample id -> References
    html = render_comparison(comparison, fail_on_regression=5)  # what report.compare.compare_runs returns

Without `records` the run's page is built from the document alone (no latency CDFs, no outputs);
without `references` the outputs are shown without their references. `render_run` opens a results
folder and does all three, the references loaded again from each cell's workload. plotly is
imported only when a page is built.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vlmperf.report.html.cells import run_view
from vlmperf.report.html.compare_page import render_comparison
from vlmperf.report.html.page import page
from vlmperf.report.html.plots import choose_plots
from vlmperf.report.html.records import RecordSource, record_source
from vlmperf.report.html.references import ReferenceSource, stored_references

__all__ = ["RecordSource", "ReferenceSource", "render_comparison", "render_html", "render_run"]


def render_html(document: dict[str, Any], records: Any = None, references: ReferenceSource | None = None) -> str:
    """The page for a run document (`report.schema.run_document`).

    `records` gives each cell's records: a `Store` holding the run, a callable taking a cell id
    and returning that cell's records, or None. Records are reduced cell by cell (CDF points,
    the first outputs) and never embedded. `references`, a callable taking a cell of the document
    and returning its samples' `References` by sample id, puts each shown output beside its
    references; when it raises for a cell, that cell's outputs say why and the page goes on.
    """
    view = run_view(document, record_source(records, document["run"]["id"]), references)
    return page(view, choose_plots(view))


def render_run(run_id: str = "latest", out: str | Path | None = None) -> str:
    """The page of a stored run, its records and references included (what `vlmperf report --format
    html` and `vlmperf run` write)."""
    from vlmperf.report.schema import run_document
    from vlmperf.store.sqlite import DEFAULT_DIR, Store

    with Store.open(out if out is not None else DEFAULT_DIR, create=False) as store:
        document = run_document(store, run_id)
        return render_html(document, records=store, references=stored_references(document["run"]["id"]))
