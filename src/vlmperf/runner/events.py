"""What the runner tells its caller while it works (a progress bar, a log, or nothing).

`step_started` marks where a group's time goes: loading the model (cell None, stage "load"), a
cell's warm-up, each timed run, its summary. The isolating executors charge the time between two
marks to the cell named, which is how a cell that hangs is found and timed out.
"""

from __future__ import annotations

from typing import Protocol

from vlmperf.runner.plan import Cell


class RunEvents(Protocol):
    def run_started(self, run_id: str, total: int, skipped: int) -> None: ...

    def cell_started(self, cell: Cell) -> None: ...

    def record_measured(self, cell: Cell, seq: int) -> None: ...

    def step_started(self, cell: Cell | None, stage: str) -> None: ...

    def cell_finished(self, cell: Cell, status: str, error: str | None) -> None: ...

    def run_finished(self, run_id: str, status: str) -> None: ...


class Silent:
    """Events that go nowhere, for the Python API and tests."""

    def run_started(self, run_id: str, total: int, skipped: int) -> None: ...

    def cell_started(self, cell: Cell) -> None: ...

    def record_measured(self, cell: Cell, seq: int) -> None: ...

    def step_started(self, cell: Cell | None, stage: str) -> None: ...

    def cell_finished(self, cell: Cell, status: str, error: str | None) -> None: ...

    def run_finished(self, run_id: str, status: str) -> None: ...
