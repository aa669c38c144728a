"""How a cell that failed is stored: its error's type, message, traceback and the stage it failed at."""

from __future__ import annotations

import traceback

from vlmperf.runner.events import RunEvents
from vlmperf.runner.plan import Cell
from vlmperf.runner.sink import CellSink

INTERRUPTED = {"type": "Interrupted", "message": "stopped by Ctrl-C; --resume measures it again"}


def error_of(exc: BaseException) -> dict[str, str]:
    """The stored form of a cell's error: its type, whole message and traceback."""
    return {
        "type": type(exc).__name__,
        "message": str(exc).strip() or type(exc).__name__,
        "traceback": "".join(traceback.format_exception(exc)),
    }


def fail_cell(store: CellSink, run_id: str, cell: Cell, exc: BaseException, events: RunEvents, stage: str) -> None:
    """Store the cell as failed at `stage` with the cause, and tell the events."""
    error = error_of(exc)
    store.fail_cell(run_id, cell.id, error, {"failed_at": stage})
    events.cell_finished(cell, "failed", f"{error['type']}: {error['message'].splitlines()[0]}")
