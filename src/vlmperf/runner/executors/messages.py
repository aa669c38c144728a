"""A group measured away from the store: every write and event becomes a message to the parent.

The child (a process of the `process` executor, or a Ray task) runs the same group runner as
the in-process executor, with `MessageSink` and `MessageEvents` in place of the store and the
progress events. Messages are small frozen dataclasses (they pickle across a pipe or Ray), in the
order they happened:

- `Started(where)`: first, once the group is running (where: `placement.placement`);
- a CellSink write: `StartCell`, `AddRecords`, `FinishCell`, `FailCell`, each with the write's arguments;
- a RunEvents call other than run_started/run_finished, cells named by id: `CellStarted`,
  `RecordMeasured`, `StepStarted`, `CellFinished`;
- `Done(failed)` or `GroupError(error)`: last; an error is an exception that escaped the group
  runner (which stores a cell's own failures itself), with its type, message and traceback.

The parent (`supervise.Supervisor`) matches on these types and refuses anything else.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vlmperf.backends.registry import target_kind_of
from vlmperf.metrics.summary_types import CellSummary
from vlmperf.runner.cell_errors import error_of
from vlmperf.runner.executors.placement import device_on_worker, placement
from vlmperf.runner.plan import Cell
from vlmperf.runner.quality import DeferredQuality
from vlmperf.runner.sink import StampedSink

if TYPE_CHECKING:
    from vlmperf.runner.plan import Plan


@dataclass(frozen=True)
class Started:
    where: dict[str, Any]


@dataclass(frozen=True)
class StartCell:
    run_id: str
    cell_id: str


@dataclass(frozen=True)
class AddRecords:
    run_id: str
    cell_id: str
    records: list[tuple[int, dict[str, Any] | bytes]]


@dataclass(frozen=True)
class FinishCell:
    run_id: str
    cell_id: str
    summary: CellSummary
    info: dict[str, Any]


@dataclass(frozen=True)
class FailCell:
    run_id: str
    cell_id: str
    error: dict[str, str]
    info: dict[str, Any] | None = None
    summary: CellSummary | None = None


@dataclass(frozen=True)
class CellStarted:
    cell_id: str


@dataclass(frozen=True)
class RecordMeasured:
    cell_id: str
    seq: int


@dataclass(frozen=True)
class StepStarted:
    cell_id: str | None
    stage: str


@dataclass(frozen=True)
class CellFinished:
    cell_id: str
    status: str
    error: str | None


@dataclass(frozen=True)
class Done:
    failed: int


@dataclass(frozen=True)
class GroupError:
    error: dict[str, str]


StoreWrite = StartCell | AddRecords | FinishCell | FailCell
Event = CellStarted | RecordMeasured | StepStarted | CellFinished
Last = Done | GroupError
Message = Started | StoreWrite | Event | Last
Send = Callable[[Message], None]
LAST = (Done, GroupError)
"""Types of the message that ends a group's stream."""


@dataclass(frozen=True)
class GroupJob:
    """What a child needs to measure one group: its cells, their workloads, and where results go."""

    cells: list[Cell]
    plan: Plan
    run_id: str
    store_path: Path
    executor: str


def job_for(cells: list[Cell], plan: Plan, run_id: str, store_path: Path, executor: str) -> GroupJob:
    """The job of a group, carrying only its own cells' workloads (a job is pickled to the child)."""
    keys = {cell.spec.workload.model_dump_json() for cell in cells}
    own = replace(
        plan, cells=list(cells), workloads={k: w for k, w in plan.workloads.items() if k in keys}, references=None
    )
    return GroupJob(list(cells), own, run_id, store_path, executor)


class MessageSink:
    """CellSink whose writes are sent to the parent."""

    def __init__(self, send: Send, path: Path) -> None:
        self._send, self.path = send, path

    def start_cell(self, run_id: str, cell_id: str) -> None:
        self._send(StartCell(run_id, cell_id))

    def add_records(self, run_id: str, cell_id: str, records: list[tuple[int, dict[str, Any] | bytes]]) -> None:
        self._send(AddRecords(run_id, cell_id, records))

    def finish_cell(self, run_id: str, cell_id: str, summary: CellSummary, info: dict[str, Any]) -> None:
        self._send(FinishCell(run_id, cell_id, summary, info))

    def fail_cell(
        self,
        run_id: str,
        cell_id: str,
        error: dict[str, str],
        info: dict[str, Any] | None = None,
        summary: CellSummary | None = None,
    ) -> None:
        self._send(FailCell(run_id, cell_id, error, info, summary))


class MessageEvents:
    """RunEvents whose calls are sent to the parent, cells named by id."""

    def __init__(self, send: Send) -> None:
        self._send = send

    def run_started(self, run_id: str, total: int, skipped: int) -> None: ...

    def run_finished(self, run_id: str, status: str) -> None: ...

    def cell_started(self, cell: Cell) -> None:
        self._send(CellStarted(cell.id))

    def record_measured(self, cell: Cell, seq: int) -> None:
        self._send(RecordMeasured(cell.id, seq))

    def step_started(self, cell: Cell | None, stage: str) -> None:
        self._send(StepStarted(cell.id if cell is not None else None, stage))

    def cell_finished(self, cell: Cell, status: str, error: str | None) -> None:
        self._send(CellFinished(cell.id, status, error))


def _on_worker(cells: list[Cell], where: dict[str, Any]) -> list[Cell]:
    """The cells with `cuda:N` read as the N-th GPU assigned to this task (Ray only; ids unchanged)."""
    gpu_ids = where.get("gpu_ids") or []
    moved = []
    for cell in cells:
        target = cell.spec.target
        device = getattr(target, "device", None)
        on_worker = device_on_worker(device, gpu_ids) if device is not None else None
        if on_worker != device:
            cell = replace(
                cell, spec=cell.spec.model_copy(update={"target": target.model_copy(update={"device": on_worker})})
            )
        moved.append(cell)
    return moved


def run_job(job: GroupJob, send: Send) -> None:
    """Measure the job's group here, sending everything to the parent (see the module docstring)."""
    where = placement(job.executor)
    send(Started(where))
    quality = DeferredQuality()  # the parent scores, with the run's one scoring session
    try:
        cells = _on_worker(job.cells, where)
        failed = target_kind_of(cells[0]).run_group(
            cells,
            job.plan,
            StampedSink(MessageSink(send, job.store_path), where),
            job.run_id,
            MessageEvents(send),
            quality,
        )
    except BaseException as exc:  # the parent fails the group's unfinished cells with it
        send(GroupError(error_of(exc)))
        if not isinstance(exc, Exception):
            raise
    else:
        send(Done(failed))
