"""What a user sees while a sweep runs: a progress bar over cells, and what Ctrl-C kept."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from vlmperf.runner.plan import Cell


def _label(cell: Cell) -> str:
    return ", ".join(f"{k}={v}" for k, v in cell.swept.items()) or cell.id


REFRESH_HZ = 4.0
"""Most redraws of the progress display per second, whatever the terminal and the request rate."""


class ProgressEvents:
    """Shows a progress bar over cells, with the current cell and how many timed runs it has.

    A redraw costs about 1.5 ms of rich rendering, so it never happens per request, nor on a
    thread that measures:
    - `record_measured` (per timed run, or per batch of stored requests) only notes the cell and
      run; the display picks that up at most `refresh_hz` times a second;
    - while an endpoint load runs (stage "drive" to the next event) a ticker thread of its own
      redraws at `refresh_hz`, so the event loop that stamps the requests never draws;
    - otherwise (a local model, between its timed windows) a noted run is drawn when the last
      redraw is at least 1 / `refresh_hz` old; rich's own auto-refresh thread stays off, as it
      would take the GIL inside timed windows (about 1% of latency on a small model).
    `draws` counts redraws, so a test can hold the display to its rate.
    """

    def __init__(self, console: Console, *, refresh_hz: float = REFRESH_HZ) -> None:
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            auto_refresh=False,
        )
        self._task: TaskID | None = None
        self._console = console
        self._period_s = 1.0 / refresh_hz
        self._last_draw = 0.0
        self._measured: tuple[Cell, int] | None = None
        self._ticker: _Ticker | None = None
        self.draws = 0
        self.run_id: str | None = None

    def _task_id(self) -> TaskID:
        """The cells bar, which `run_started` adds before any cell or step is reported."""
        assert self._task is not None, "a cell or step reported before run_started"
        return self._task

    def _draw(self, description: str | None = None) -> None:
        if description is not None:
            self._progress.update(self._task_id(), description=description)
        self._progress.refresh()
        self._last_draw = time.monotonic()
        self.draws += 1

    def _draw_measured(self) -> None:
        """Redraw with the latest noted run (the ticker's and the local path's redraw)."""
        measured = self._measured
        self._draw(None if measured is None else f"{_label(measured[0])} (run {measured[1] + 1})")

    def run_started(self, run_id: str, total: int, skipped: int) -> None:
        self.run_id = run_id
        self._progress.start()
        resumed = f", {skipped} already finished" if skipped else ""
        self._console.print(f"run {run_id}: {total} cells{resumed}")
        self._task = self._progress.add_task("cells", total=total, completed=skipped)
        self._draw()

    def cell_started(self, cell: Cell) -> None:
        self._stop_ticker()
        self._measured = None
        self._draw(_label(cell))

    def record_measured(self, cell: Cell, seq: int) -> None:
        self._measured = (cell, seq)
        if self._ticker is None and time.monotonic() - self._last_draw >= self._period_s:
            self._draw_measured()

    def step_started(self, cell: Cell | None, stage: str) -> None:
        self._stop_ticker()
        if cell is None:  # a step of the whole group
            words = {"load": "loading the model", "drive": "sending the load"}.get(stage, stage)
            self._draw(words)
            if stage == "drive":
                self._ticker = _Ticker(self._period_s, self._draw_measured)

    def cell_finished(self, cell: Cell, status: str, error: str | None) -> None:
        self._stop_ticker()
        if error:
            self._progress.console.print(f"[red]cell {cell.id} failed[/red]: {error}")
        self._progress.advance(self._task_id())
        self._draw()

    def run_finished(self, run_id: str, status: str) -> None:
        self._stop_ticker()
        self._progress.stop()

    def _stop_ticker(self) -> None:
        if self._ticker is not None:
            self._ticker.stop()
            self._ticker = None


class _Ticker:
    """A daemon thread calling `draw` every `period_s` until stopped."""

    def __init__(self, period_s: float, draw: Callable[[], None]) -> None:
        self._period_s, self._draw = period_s, draw
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="vlmperf-progress", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stopping.wait(self._period_s):
            self._draw()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join()


def interrupted(run_id: str | None) -> str:
    if run_id is None:
        return "interrupted before the run started: nothing was stored"
    return f"interrupted: run {run_id} is stored as partial; `vlmperf run ... --resume` continues it"
