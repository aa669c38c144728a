"""Commands that read stored runs: `report`, `compare`, `export`, `runs`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, overload

import typer

from vlmperf import api
from vlmperf.cli.app import DEFAULT_DIR, OutOption, app, err_console, out_console
from vlmperf.errors import VlmperfError
from vlmperf.report.render import RENDERERS
from vlmperf.store.sqlite import Store, skipped_message
from vlmperf.text_output import write_text_output


@app.command()
def report(
    run_id: Annotated[str, typer.Argument(help="run id, or latest")] = "latest",
    format: Annotated[
        str,
        typer.Option(
            "--format",
            "-f",
            help="table, md, json, csv, html (a self-contained page with plots: needs the "
            "report extra), or study (the studies' markdown tables)",
        ),
    ] = "table",
    output: Annotated[Path | None, typer.Option("-o", "--output", help="write to this file instead of stdout")] = None,
    out: OutOption = DEFAULT_DIR,
) -> None:
    """Show a stored run."""
    if format not in RENDERERS:
        raise VlmperfError(f"--format {format!r} is not known; use one of: {', '.join(RENDERERS)}")
    if format == "html":
        from vlmperf.report.html import render_html
        from vlmperf.report.html.references import stored_references
        from vlmperf.report.schema import run_document

        with Store.open(out, create=False) as store:  # with the records: latency distributions and outputs
            document = run_document(store, run_id)
            text = render_html(document, records=store, references=stored_references(document["run"]["id"]))
            skipped = list(store.skipped)
    else:
        document = api.report(run_id, out=out)
        text = RENDERERS[format](document)
        skipped = document.get("skipped_rows", [])
    _write(text, output)
    _warn_skipped(skipped)


def _warn_skipped(skipped: list[str]) -> None:
    """Say on stderr which damaged rows of the store a command skipped (it read the rest)."""
    if skipped:
        err_console.print(f"warning: {skipped_message(skipped)}", markup=False, highlight=False, soft_wrap=True)


@overload
def _stored(run_id: str, out: Path, records: Literal[True] = True) -> tuple[dict[str, Any], list[dict[str, Any]]]: ...
@overload
def _stored(run_id: str, out: Path, records: bool) -> tuple[dict[str, Any], list[dict[str, Any]] | None]: ...
def _stored(run_id: str, out: Path, records: bool = True) -> tuple[dict[str, Any], list[dict[str, Any]] | None]:
    """A stored run's document and, when asked, its records (reading never creates a store)."""
    from vlmperf.report.schema import run_document

    with Store.open(out, create=False) as store:
        document = run_document(store, run_id)
        found = store.records(document["run"]["id"]) if records else None
        _warn_skipped(store.skipped)
        return document, found


COMPARE_FORMATS = ("table", "json", "html")


def _write(text: str, output: Path | None) -> None:
    """`text` to stdout, or to the file `output` (saying so on stderr)."""
    if write_text_output(text, output) is not None:
        err_console.print(f"wrote {output}", markup=False, highlight=False, soft_wrap=True)


@app.command()
def compare(
    run_a: Annotated[str, typer.Argument(help="the baseline run (A): run id, or latest")],
    run_b: Annotated[str, typer.Argument(help="the run compared with it (B): run id, or latest")],
    metric: Annotated[
        list[str] | None,
        typer.Option("--metric", help="per-record metric, repeatable (default: latency_s and e2e_s)"),
    ] = None,
    stat: Annotated[str, typer.Option("--stat", help="statistic compared: p50, p90, p99 or mean")] = "p50",
    ignore: Annotated[
        list[str] | None,
        typer.Option("--ignore", help="config key allowed to differ between matched cells, repeatable"),
    ] = None,
    fail_on_regression: Annotated[
        float | None,
        typer.Option(
            "--fail-on-regression",
            metavar="PCT",
            min=0,
            help="exit 1 when a matched cell's metric got worse by more than PCT percent and its 95% bootstrap "
            "interval of the difference excludes 0",
        ),
    ] = None,
    format: Annotated[
        str,
        typer.Option(
            "--format",
            "-f",
            help="table, json, or html (a self-contained page with a forest plot: needs the report extra)",
        ),
    ] = "table",
    output: Annotated[Path | None, typer.Option("-o", "--output", help="write to this file instead of stdout")] = None,
    out: OutOption = DEFAULT_DIR,
    out_b: Annotated[Path | None, typer.Option("--out-b", help="results store of RUN_B, when not --out")] = None,
    allow_unstable: Annotated[
        bool,
        typer.Option(
            "--allow-unstable",
            help="judge pairs whose cells are flagged noisy, contended or throttled (not judged by default)",
        ),
    ] = False,
) -> None:
    """Compare two runs cell by cell (cells matched by config): deltas of B against A with a bootstrap
    interval and a Mann-Whitney p-value, from the records. Pairs with a cell flagged unstable are not
    judged unless --allow-unstable. Exits 1 on a regression past --fail-on-regression, 2 when no cell
    could be compared or judged (in every format, after writing the output)."""
    import orjson

    from vlmperf.report import compare as cmp
    from vlmperf.report import compare_view as view

    if format not in COMPARE_FORMATS:
        raise VlmperfError(f"--format {format!r} is not known; use one of: {', '.join(COMPARE_FORMATS)}")
    metrics = metric or cmp.default_metrics()
    cmp.check_metrics(metrics, stat)
    (doc_a, records_a), (doc_b, records_b) = _stored(run_a, out), _stored(run_b, out_b or out)
    comparison = cmp.compare_runs(
        doc_a, records_a, doc_b, records_b, metrics, stat=stat, ignore=ignore or [], allow_unstable=allow_unstable
    )
    if format == "html":
        from vlmperf.report.html import render_comparison

        _write(render_comparison(comparison, fail_on_regression), output)
    elif format == "json":
        _write(orjson.dumps(comparison, option=orjson.OPT_INDENT_2).decode() + "\n", output)
    elif output is not None:
        _write(view.table_text(comparison), output)
    else:
        out_console.print(view.comparison_table(comparison))
    for line in view.unmatched_lines(comparison) + view.skipped_lines(comparison) + view.unjudged_lines(comparison):
        err_console.print(line, markup=False, highlight=False, soft_wrap=True)
    if not comparison["rows"]:
        raise VlmperfError(
            f"nothing to compare: no matched pair of finished cells measured {', '.join(metrics)} in both runs; "
            "match cells that differ in a key with --ignore KEY, or choose --metric"
        )
    if not any(row["judged"] for row in comparison["rows"]):
        raise VlmperfError(
            "no change was judged: every compared pair has a cell flagged unstable (noisy, contended or throttled); "
            "measure again on a quiet machine, or pass --allow-unstable to judge them anyway"
        )
    if fail_on_regression is not None and (regressed := cmp.regressions(comparison, fail_on_regression)):
        where = "; ".join(f"{r['metric']} of cell {r['cell_b']} ({r['verdict']})" for r in regressed)
        message = f"{len(regressed)} regression(s) past {fail_on_regression:g}%: {where}"
        err_console.print(message, markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(1)


@app.command()
def export(
    run_id: Annotated[str, typer.Argument(help="run id, or latest")] = "latest",
    format: Annotated[str, typer.Option("--format", "-f", help="csv or parquet (parquet needs pyarrow)")] = "csv",
    output: Annotated[Path | None, typer.Option("-o", "--output", help="file to write")] = None,
    what: Annotated[
        str, typer.Option("--what", help="summaries (one row per cell) or records (one per record)")
    ] = "summaries",
    out: OutOption = DEFAULT_DIR,
) -> None:
    """Export a stored run's summaries or raw records as CSV or Parquet (pandas reads both)."""
    from vlmperf.report.export import export_run

    if output is None:
        raise VlmperfError("export needs a file to write: give -o PATH (e.g. -o run.csv)")
    document, records = _stored(run_id, out, records=what == "records")
    rows = export_run(document, records, output, format=format, what=what)
    err_console.print(f"wrote {rows} rows of {what} to {output}", markup=False, highlight=False, soft_wrap=True)


@app.command()
def runs(out: OutOption = DEFAULT_DIR) -> None:
    """List the stored runs."""
    from rich.table import Table

    with Store.open(out, create=False) as store:
        table = Table(title=f"runs in {store.path}", title_justify="left")
        for column in ("id", "created", "name", "status", "cells", "failed"):
            table.add_column(column)
        for stored in store.runs():
            cells = store.cells(stored.id)
            failed = sum(c["status"] == "failed" for c in cells)
            table.add_row(stored.id, stored.created, stored.name, stored.status, str(len(cells)), str(failed))
        skipped = list(store.skipped)
    out_console.print(table)
    _warn_skipped(skipped)
