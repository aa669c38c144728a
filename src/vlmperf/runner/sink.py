"""What a group runner writes to: the store's writing half, so a group can run where the store is not.

In this process the store itself takes the writes. In a child process or on a Ray worker the
writes travel as messages to the parent, which alone writes the SQLite file
(`runner.executors.messages`). Either way every finished or failed cell's info gains `executor`:
where it ran (executor kind, host, process id, Ray node, visible GPUs), so a cell's row says which
machine and device measured it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from vlmperf.metrics.summary_types import CellSummary


class CellSink(Protocol):
    """The writes a group runner makes; `path` is the store's file (traces are written beside it)."""

    path: Path

    def start_cell(self, run_id: str, cell_id: str) -> None: ...

    def add_records(self, run_id: str, cell_id: str, records: list[tuple[int, dict[str, Any] | bytes]]) -> None:
        """Store (seq, record) pairs of one cell; a record is a dict, or its JSON already serialised."""

    def finish_cell(self, run_id: str, cell_id: str, summary: CellSummary, info: dict[str, Any]) -> None: ...

    def fail_cell(
        self,
        run_id: str,
        cell_id: str,
        error: dict[str, str],
        info: dict[str, Any] | None = None,
        summary: CellSummary | None = None,
    ) -> None:
        """Store the cell as failed; `summary` keeps what it did measure (None: no figures)."""


class StampedSink:
    """Passes every write on to `inner`, adding `executor: where` to the info of each finished or failed cell."""

    def __init__(self, inner: CellSink, where: dict[str, Any]) -> None:
        self._inner, self._where = inner, where
        self.path = inner.path

    def start_cell(self, run_id: str, cell_id: str) -> None:
        self._inner.start_cell(run_id, cell_id)

    def add_records(self, run_id: str, cell_id: str, records: list[tuple[int, dict[str, Any] | bytes]]) -> None:
        self._inner.add_records(run_id, cell_id, records)

    def finish_cell(self, run_id: str, cell_id: str, summary: CellSummary, info: dict[str, Any]) -> None:
        self._inner.finish_cell(run_id, cell_id, summary, {**info, "executor": self._where})

    def fail_cell(
        self,
        run_id: str,
        cell_id: str,
        error: dict[str, str],
        info: dict[str, Any] | None = None,
        summary: CellSummary | None = None,
    ) -> None:
        self._inner.fail_cell(run_id, cell_id, error, {**(info or {}), "executor": self._where}, summary)
