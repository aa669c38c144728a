"""What a user sees while a sweep runs: a progress bar over cells, and what Ctrl-C kept."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from vlmperf.runner.plan import Cell


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

    def step_started(self, cell: Cell | None, stage: str) -> None:
        if cell is None:  # a step of the whole group
            words = {"load": "loading the model", "drive": "sending the load"}.get(stage, stage)
            self._progress.update(self._task, description=words, refresh=True)

    def cell_finished(self, cell: Cell, status: str, error: str | None) -> None:
        if error:
            self._progress.console.print(f"[red]cell {cell.id} failed[/red]: {error}")
        self._progress.advance(self._task)
        self._progress.refresh()

    def run_finished(self, run_id: str, status: str) -> None:
        self._progress.stop()


def interrupted(run_id: str | None) -> str:
    if run_id is None:
        return "interrupted before the run started: nothing was stored"
    return f"interrupted: run {run_id} is stored as partial; `vlmperf run ... --resume` continues it"
