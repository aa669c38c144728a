"""The `vlmperf` command line: a thin shell over `vlmperf.api`.

Errors a user can fix print one line (per problem) and exit with code 2; `--debug` shows the
traceback instead.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from vlmperf import api
from vlmperf.errors import VlmperfError
from vlmperf.report.render import RENDERERS, rich_table
from vlmperf.runner.plan import Cell
from vlmperf.store.sqlite import DEFAULT_DIR, Store

app = typer.Typer(add_completion=False, no_args_is_help=False, help="Measure what a vision-language model costs and how well it answers.")
out_console = Console(width=None if sys.stdout.isatty() else 250)
err_console = Console(stderr=True)
_state = {"debug": False}

OutOption = Annotated[Path, typer.Option("--out", help="folder of the results store")]


@app.callback()
def main(debug: Annotated[bool, typer.Option("--debug", help="show tracebacks")] = False) -> None:
    _state["debug"] = debug


def _label(cell: Cell) -> str:
    return ", ".join(f"{k}={v}" for k, v in cell.swept.items()) or cell.id


class ProgressEvents:
    """Shows a progress bar over cells, with the current cell and its timed runs.

    The bar is redrawn only when the runner reports an event, which happens between measured
    windows: rich's automatic refresh would run a thread that takes the GIL inside them (it cost
    about 1% of latency on a small model).
    """

    def __init__(self, console: Console) -> None:
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            auto_refresh=False,
        )
        self._task = None
        self._console = console
        self.run_id: str | None = None

    def run_started(self, run_id: str, total: int, skipped: int) -> None:
        self.run_id = run_id
        self._progress.start()
        resumed = f", {skipped} already finished" if skipped else ""
        self._console.print(f"run {run_id}: {total} cells{resumed}")
        self._task = self._progress.add_task("cells", total=total, completed=skipped)
        self._progress.refresh()

    def cell_started(self, cell: Cell) -> None:
        self._progress.update(self._task, description=_label(cell), refresh=True)

    def record_measured(self, cell: Cell, seq: int) -> None:
        self._progress.update(self._task, description=f"{_label(cell)} (run {seq + 1})", refresh=True)

    def cell_finished(self, cell: Cell, status: str, error: str | None) -> None:
        if error:
            self._progress.console.print(f"[red]cell {cell.id} failed[/red]: {error}")
        self._progress.advance(self._task)
        self._progress.refresh()

    def run_finished(self, run_id: str, status: str) -> None:
        self._progress.stop()


def _interrupted(run_id: str | None) -> str:
    if run_id is None:
        return "interrupted before the run started: nothing was stored"
    return f"interrupted: run {run_id} is stored as partial; `vlmperf run ... --resume` continues it"


@app.command()
def run(
    config: Annotated[Optional[Path], typer.Argument(help="YAML config (default: the built-in demo sweep)")] = None,
    set_: Annotated[Optional[list[str]], typer.Option("--set", help="override a config key: dotted.key=value")] = None,
    out: OutOption = DEFAULT_DIR,
    resume: Annotated[
        bool, typer.Option("--resume", help="continue the newest run holding any of these cells, skipping finished ones")
    ] = False,
) -> None:
    """Run a sweep and print its summary table. Exits 1 when every cell failed."""
    events = ProgressEvents(err_console)
    try:
        outcome = api.run(config, overrides=set_ or [], out=out, resume=resume, events=events)
    except KeyboardInterrupt:
        # typer turns a KeyboardInterrupt into a bare exit 130, so say here what was kept.
        err_console.print(_interrupted(events.run_id))
        raise typer.Exit(130) from None
    if resume and not outcome.resumed:
        err_console.print("--resume: no stored run holds any of these cells, so this was a new run")
    with Store.open(out) as store:
        from vlmperf.report.schema import run_document

        document = run_document(store, outcome.run_id)
    out_console.print(rich_table(document))
    out_console.print(f"stored in {Path(out) / 'vlmperf.db'} as run {outcome.run_id}; `vlmperf report {outcome.run_id}` shows it again")
    _write_html_report(outcome.run_id, out)
    unscored = {(c["info"].get("quality") or {}).get("not_scored") for c in document["cells"]} - {None}
    for reason in sorted(unscored):
        err_console.print(f"[yellow]quality not scored[/yellow]: {reason}", markup=True, highlight=False)
    for cell in document["cells"]:
        bound = cell["metrics"].get("client_bound") or {}
        if bound.get("value"):
            err_console.print(
                f"[yellow]cell {cell['id']} was client-bound[/yellow] ({'; '.join(bound['why'])}): its figures show this "
                "machine's limit, not the server's; lower the load or run `vlmperf calibrate`",
                markup=True, highlight=False,
            )
    if outcome.failed:
        err_console.print(f"[yellow]{outcome.failed} of {outcome.cells} cells failed[/yellow] (see the table)")
    if outcome.failed and outcome.failed == outcome.cells - outcome.skipped:
        raise typer.Exit(1)


def _write_html_report(run_id: str, out: Path) -> None:
    """The run's HTML report beside its store (`<out>/reports/<run id>.html`), when plotly is installed."""
    import importlib.util

    if importlib.util.find_spec("plotly") is None:
        err_console.print("no HTML report: it needs plotly (pip install 'vlmperf[report]')")
        return
    from vlmperf.report.html import render_run

    path = Path(out) / "reports" / f"{run_id}.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_run(run_id, out))
    out_console.print(f"HTML report: {path}")


@app.command()
def profile(
    config: Annotated[Optional[Path], typer.Argument(help="YAML config (default: the built-in demo sweep)")] = None,
    set_: Annotated[Optional[list[str]], typer.Option("--set", help="override a config key: dotted.key=value")] = None,
    out: OutOption = DEFAULT_DIR,
    top: Annotated[int, typer.Option("--top", help="layer classes shown; the rest are summed in one row")] = 12,
) -> None:
    """Run a sweep with a per-module profile of every cell (measure.profile=true): the top layer
    classes by self time across the sweep's cells, and a torch.profiler trace per cell."""
    from vlmperf.report.module_profile import module_profile_table, run_profiles
    from vlmperf.report.schema import run_document

    events = ProgressEvents(err_console)
    try:
        outcome = api.run(config, overrides=[*(set_ or []), "measure.profile=true"], out=out, events=events)
    except KeyboardInterrupt:
        err_console.print(_interrupted(events.run_id))
        raise typer.Exit(130) from None
    with Store.open(out) as store:
        document = run_document(store, outcome.run_id)
    out_console.print(rich_table(document))
    profiles = run_profiles(document)
    if not profiles:
        err_console.print("[yellow]no cell finished, so there is no profile[/yellow] (see the table)")
        raise typer.Exit(1)
    out_console.print(module_profile_table(profiles, top))
    for cell in document["cells"]:
        trace = ((cell.get("info") or {}).get("profile") or {}).get("trace")
        if trace:
            out_console.print(f"trace of cell {cell['id']}: {trace['path']} (open in https://ui.perfetto.dev or chrome://tracing)")
    out_console.print(f"stored as run {outcome.run_id}; `vlmperf report {outcome.run_id}` shows it again")


@app.command()
def report(
    run_id: Annotated[str, typer.Argument(help="run id, or latest")] = "latest",
    format: Annotated[
        str,
        typer.Option("--format", "-f", help="table, md, json, csv, html (a self-contained page with plots: needs the "
                     "report extra), or study (the studies' markdown tables)"),
    ] = "table",
    output: Annotated[Optional[Path], typer.Option("-o", "--output", help="write to this file instead of stdout")] = None,
    out: OutOption = DEFAULT_DIR,
) -> None:
    """Show a stored run."""
    if format not in RENDERERS:
        raise VlmperfError(f"--format {format!r} is not known; use one of: {', '.join(RENDERERS)}")
    if format == "html":
        from vlmperf.report.html import render_run

        text = render_run(run_id, out)  # with the records: latency distributions and outputs
    else:
        text = RENDERERS[format](api.report(run_id, out=out))
    if output is None:
        sys.stdout.write(text)
    else:
        try:
            output.write_text(text)
        except OSError as exc:
            raise VlmperfError(
                f"cannot write {output} ({exc.strerror or exc}): give -o a file in an existing, writable folder"
            ) from exc
        err_console.print(f"wrote {output}")


def _stored(run_id: str, out: Path, records: bool = True) -> tuple[dict, list[dict] | None]:
    """A stored run's document and, when asked, its records (reading never creates a store)."""
    from vlmperf.report.schema import run_document

    with Store.open(out, create=False) as store:
        document = run_document(store, run_id)
        return document, store.records(document["run"]["id"]) if records else None


@app.command()
def compare(
    run_a: Annotated[str, typer.Argument(help="the baseline run (A): run id, or latest")],
    run_b: Annotated[str, typer.Argument(help="the run compared with it (B): run id, or latest")],
    metric: Annotated[
        Optional[list[str]], typer.Option("--metric", help="per-record metric, repeatable (default: latency_s and e2e_s)")
    ] = None,
    stat: Annotated[str, typer.Option("--stat", help="statistic compared: p50, p90, p99 or mean")] = "p50",
    ignore: Annotated[
        Optional[list[str]], typer.Option("--ignore", help="config key allowed to differ between matched cells, repeatable")
    ] = None,
    fail_on_regression: Annotated[Optional[float], typer.Option(
        "--fail-on-regression", metavar="PCT", min=0,
        help="exit 1 when a matched cell's metric got worse by more than PCT percent and its 95% bootstrap interval "
        "of the difference excludes 0",
    )] = None,
    format: Annotated[str, typer.Option("--format", "-f", help="table or json")] = "table",
    out: OutOption = DEFAULT_DIR,
    out_b: Annotated[Optional[Path], typer.Option("--out-b", help="results store of RUN_B, when not --out")] = None,
) -> None:
    """Compare two runs cell by cell (cells matched by config): deltas of B against A with a bootstrap
    interval and a Mann-Whitney p-value, from the records. Exits 1 on a regression past
    --fail-on-regression, 2 when no cell could be compared."""
    import orjson

    from vlmperf.report import compare as cmp

    if format not in ("table", "json"):
        raise VlmperfError(f"--format {format!r} is not known; use table or json")
    metrics = metric or list(cmp.DEFAULT_METRICS)
    cmp.check_metrics(metrics, stat)
    (doc_a, records_a), (doc_b, records_b) = _stored(run_a, out), _stored(run_b, out_b or out)
    comparison = cmp.compare_runs(doc_a, records_a, doc_b, records_b, metrics, stat=stat, ignore=ignore or [])
    if format == "json":
        sys.stdout.write(orjson.dumps(comparison, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        out_console.print(cmp.comparison_table(comparison))
    for line in cmp.unmatched_lines(comparison) + [f"cell {s['cell_a']}: {s['why']}" for s in comparison["skipped"]]:
        err_console.print(line, markup=False, highlight=False, soft_wrap=True)
    if not comparison["rows"]:
        raise VlmperfError(
            f"nothing to compare: no matched pair of finished cells measured {', '.join(metrics)} in both runs; "
            "match cells that differ in a key with --ignore KEY, or choose --metric"
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
    output: Annotated[Optional[Path], typer.Option("-o", "--output", help="file to write")] = None,
    what: Annotated[str, typer.Option("--what", help="summaries (one row per cell) or records (one per record)")] = "summaries",
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
    out_console.print(table)


@app.command()
def score(
    task: Annotated[
        Optional[str], typer.Option("--task", help="task to score as (caption, vqa, mcq, text, ...)")
    ] = None,
    predictions: Annotated[
        Optional[Path], typer.Option("--predictions", help='JSON lines: {"id", "prediction", <references>}')
    ] = None,
    run_id: Annotated[
        Optional[str], typer.Option("--run", help="re-score a stored run's outputs: run id, or latest")
    ] = None,
    format: Annotated[str, typer.Option("--format", "-f", help="table or json")] = "table",
    output: Annotated[
        Optional[Path], typer.Option("-o", "--output", help="write to this file instead of stdout")
    ] = None,
    out: OutOption = DEFAULT_DIR,
) -> None:
    """Score a predictions file (--task, --predictions), or re-score a stored run (--run)."""
    from vlmperf.scoring.score_command import run_score_command

    written = run_score_command(task=task, predictions=predictions, run=run_id, format=format, output=output, out=out)
    if written is not None:
        err_console.print(f"wrote {written}")


@app.command()
def calibrate(
    duration: Annotated[float, typer.Option("--duration", help="seconds per rate step", min=0.1)] = 2.0,
    format: Annotated[str, typer.Option("--format", "-f", help="table or json")] = "table",
) -> None:
    """Measure the client itself: its latency floor and the highest request rate it holds here."""
    import json

    from rich.table import Table

    from vlmperf.load.calibrate import calibrate as measure_client

    if format not in ("table", "json"):
        raise VlmperfError(f"--format {format!r} is not known; use table or json")
    result = measure_client(duration_s=duration)
    if format == "json":
        sys.stdout.write(json.dumps(result, indent=2) + "\n")
        return
    floor = result["floor"]
    out_console.print(
        f"client floor (single stream, instant loopback server, {floor['requests']} requests): "
        f"e2e p50 {floor['e2e_s']['p50'] * 1e3:.3f} ms, p99 {floor['e2e_s']['p99'] * 1e3:.3f} ms"
    )
    table = Table(title="open-loop rate steps", title_justify="left")
    for column in ("offered/s", "sent/s", "achieved/s", "lateness p50 ms", "lateness p99 ms", "loop lag p99 ms", "holds"):
        table.add_column(column)
    for step in result["steps"]:
        lateness, lag = step["scheduler_lateness_s"], step["loop_lag_s"]
        table.add_row(
            f"{step['offered_rate']:g}", f"{step['sent_rate'] or 0:.1f}", f"{step['achieved_rate'] or 0:.1f}",
            f"{(lateness['p50'] or 0) * 1e3:.3f}", f"{(lateness['p99'] or 0) * 1e3:.3f}",
            f"{(lag['p99'] or 0) * 1e3:.3f}", "yes" if step["holds"] else "no",
        )
    out_console.print(table)
    best = result["max_rate"]
    out_console.print(f"highest rate held: {best:g} requests/s" if best else "no rate step held on this machine")


def _click_errors() -> tuple[type[Exception], ...]:
    """Usage-error classes: typer >= 0.24 vendors its own click, older typer uses click itself."""
    found: list[type[Exception]] = []
    try:
        from typer._click.exceptions import ClickException as VendoredClickException

        found.append(VendoredClickException)
    except ImportError:
        pass
    try:
        import click

        found.append(click.ClickException)
    except ImportError:
        pass
    return tuple(found)


def entry() -> None:
    """Console entry point: user errors exit 2 with their message, without a traceback."""
    try:
        code = app(standalone_mode=False)
    except VlmperfError as exc:
        if _state["debug"]:
            raise
        for line in str(exc).splitlines():
            # soft_wrap: one problem stays on one line, whatever the terminal width
            err_console.print(f"error: {line}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except _click_errors() as exc:  # unknown option, missing argument, ...: click's usage message
        exc.show()
        sys.exit(2)
    # without standalone mode, typer returns the exit code of typer.Exit and of Ctrl-C (130)
    if isinstance(code, int) and not isinstance(code, bool) and code:
        sys.exit(code)
