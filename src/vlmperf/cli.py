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
out_console = Console(width=None if sys.stdout.isatty() else 200)
err_console = Console(stderr=True)
_state = {"debug": False}

OutOption = Annotated[Path, typer.Option("--out", help="folder of the results store")]


@app.callback()
def main(debug: Annotated[bool, typer.Option("--debug", help="show tracebacks")] = False) -> None:
    _state["debug"] = debug


class ProgressEvents:
    """Shows a progress bar over cells, with the current cell and its timed runs."""

    def __init__(self, console: Console) -> None:
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self._task = None
        self._console = console

    def run_started(self, run_id: str, total: int, skipped: int) -> None:
        self._progress.start()
        resumed = f", {skipped} already finished" if skipped else ""
        self._console.print(f"run {run_id}: {total} cells{resumed}")
        self._task = self._progress.add_task("cells", total=total, completed=skipped)

    def cell_started(self, cell: Cell) -> None:
        label = ", ".join(f"{k}={v}" for k, v in cell.swept.items()) or cell.id
        self._progress.update(self._task, description=f"{label}")

    def record_measured(self, cell: Cell, seq: int) -> None:
        label = ", ".join(f"{k}={v}" for k, v in cell.swept.items()) or cell.id
        self._progress.update(self._task, description=f"{label} (run {seq + 1})")

    def cell_finished(self, cell: Cell, status: str, error: str | None) -> None:
        if error:
            self._progress.console.print(f"[red]cell {cell.id} failed[/red]: {error}")
        self._progress.advance(self._task)

    def run_finished(self, run_id: str, status: str) -> None:
        self._progress.stop()


@app.command()
def run(
    config: Annotated[Optional[Path], typer.Argument(help="YAML config (default: the built-in demo sweep)")] = None,
    set_: Annotated[list[str], typer.Option("--set", help="override a config key: dotted.key=value")] = [],
    out: OutOption = DEFAULT_DIR,
    resume: Annotated[bool, typer.Option("--resume", help="continue the latest run of this plan, skipping finished cells")] = False,
) -> None:
    """Run a sweep and print its summary table."""
    try:
        outcome = api.run(config, overrides=set_, out=out, resume=resume, events=ProgressEvents(err_console))
    except KeyboardInterrupt:
        # typer turns a KeyboardInterrupt into a bare exit 130, so say here what was kept.
        err_console.print("interrupted: the run is stored as partial; `vlmperf run ... --resume` continues it")
        raise typer.Exit(130) from None
    with Store.open(out) as store:
        from vlmperf.report.schema import run_document

        document = run_document(store, outcome.run_id)
    out_console.print(rich_table(document))
    out_console.print(f"stored in {Path(out) / 'vlmperf.db'} as run {outcome.run_id}; `vlmperf report {outcome.run_id}` shows it again")
    if outcome.failed:
        err_console.print(f"[yellow]{outcome.failed} of {outcome.cells} cells failed[/yellow] (see the table)")


@app.command()
def report(
    run_id: Annotated[str, typer.Argument(help="run id, or latest")] = "latest",
    format: Annotated[str, typer.Option("--format", "-f", help="table, md, json or csv")] = "table",
    output: Annotated[Optional[Path], typer.Option("-o", "--output", help="write to this file instead of stdout")] = None,
    out: OutOption = DEFAULT_DIR,
) -> None:
    """Show a stored run."""
    if format not in RENDERERS:
        raise VlmperfError(f"--format {format!r} is not known; use one of: {', '.join(RENDERERS)}")
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
        err_console.print("interrupted: the run is stored as partial; `vlmperf run ... --resume` continues it")
        sys.exit(130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except _click_errors() as exc:  # unknown option, missing argument, ...: click's usage message
        exc.show()
        sys.exit(2)
    # without standalone mode, typer returns the exit code of typer.Exit and of Ctrl-C (130)
    if isinstance(code, int) and not isinstance(code, bool) and code:
        sys.exit(code)
