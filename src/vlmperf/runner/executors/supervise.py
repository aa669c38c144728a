"""The parent's side of an isolating executor: start groups, apply their messages, judge their ends.

Each group of cells runs as an attempt somewhere else (a child process, a Ray task). The parent
applies the attempt's messages to the one store and the run's events as they arrive, and keeps
time: the time between two `step_started` marks is charged to the cell named (see
`runner.events`). An attempt ends in one of these ways:

- it sent `done`: its cells are all stored;
- it sent `error` (an exception escaped the group runner): its unfinished cells fail with it;
- it passed its time (`executor.cell_timeout_s`) or its memory limit and was stopped: the cell
  it was busy with fails with that cause (every unfinished cell, when it was loading the model);
- its process or worker died (a crash, a kill, a lost node): the cell it was busy with is
  charged one try (every unfinished cell, when it was loading), and a cell charged more than
  `executor.max_retries` times fails with the cause.

In the last two cases the group's other unfinished cells start again in a new attempt, first in
line, so one bad cell never takes its neighbours down. Ctrl-C stops every attempt and marks
their unfinished cells as interrupted. No cell is ever left without a status.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from vlmperf.config.spec import Executor
from vlmperf.metrics.summary_types import CellSummary
from vlmperf.runner.cell_errors import INTERRUPTED, error_of
from vlmperf.runner.events import RunEvents
from vlmperf.runner.executors.messages import (
    AddRecords,
    CellFinished,
    CellStarted,
    Done,
    FailCell,
    FinishCell,
    GroupError,
    GroupJob,
    Message,
    RecordMeasured,
    StartCell,
    Started,
    StepStarted,
    job_for,
)
from vlmperf.runner.plan import Cell
from vlmperf.runner.quality import RunQuality, complete_pending
from vlmperf.store.sqlite import Store

if TYPE_CHECKING:
    from vlmperf.runner.plan import Plan

POLL_S = 0.1
"""Longest wait for messages before the parent checks the attempts' time again."""


@dataclass(frozen=True)
class Ended:
    """How an attempt's process or task ended: `cause` None after a clean exit; `retry` for a crash
    or a lost worker (worth another try), not for a stop the parent made (timeout, memory)."""

    cause: str | None
    kind: str = "ProcessDied"
    retry: bool = True


class Launcher(Protocol):
    """Starts attempts somewhere and reports what they send and how they end."""

    kind: str

    @property
    def parallel(self) -> int | None:
        """Most attempts running at once (None: as many as the launcher's scheduler admits)."""

    def launch(self, job: GroupJob) -> Any: ...

    def wait(self, handles: list[Any], timeout: float) -> list[tuple[Any, list[Message] | Ended]]: ...

    def stop(self, handle: Any, cause: str, kind: str) -> None:
        """Kill the attempt; its end is then reported by `wait` as Ended(cause, kind, retry=False)."""

    def close(self) -> None: ...


@dataclass
class Attempt:
    cells: list[Cell]
    handle: Any
    where: dict[str, Any] = field(default_factory=dict)
    running_since: float | None = None
    step: tuple[str | None, str] = (None, "start")
    step_since: float = 0.0
    charged: dict[str, float] = field(default_factory=dict)
    """Seconds of steps charged to each cell id."""
    ended: set[str] = field(default_factory=set)
    result: Done | GroupError | None = None
    """The last message: Done(failed) or GroupError(error)."""

    def unfinished(self) -> list[Cell]:
        return [c for c in self.cells if c.id not in self.ended]


class Supervisor:
    """Runs groups through a launcher; `run` returns how many cells failed."""

    def __init__(
        self, launcher: Launcher, settings: Executor, plan: Plan, store: Store, run_id: str, events: RunEvents
    ):
        self._launcher, self._settings, self._plan = launcher, settings, plan
        self._store, self._run_id, self._events = store, run_id, events
        self._tries: Counter[str] = Counter()
        self._failed = 0
        self._queue: deque[list[Cell]] = deque()
        self._running: list[Attempt] = []
        self._quality = RunQuality(normalised_text_errors=plan.spec.scoring.normalised_text_errors)

    def run(self, groups: list[list[Cell]]) -> int:
        self._queue.extend(groups)
        try:
            while self._queue or self._running:
                self._start_waiting()
                handles = [a.handle for a in self._running]
                for handle, news in self._launcher.wait(handles, POLL_S):
                    attempt = next(a for a in self._running if a.handle is handle)
                    if isinstance(news, Ended):
                        self._end(attempt, news)
                    else:
                        for message in news:
                            self._apply(attempt, message)
                self._stop_overdue()
        except KeyboardInterrupt:
            for attempt in self._running:
                self._launcher.stop(attempt.handle, "interrupted", "Interrupted")
                for cell in attempt.unfinished():
                    self._store.fail_cell(self._run_id, cell.id, INTERRUPTED)
            raise
        finally:
            self._quality.close()
            self._launcher.close()
        return self._failed

    # starting ----------------------------------------------------------------------------------
    def _start_waiting(self) -> None:
        limit = self._launcher.parallel
        while self._queue and (limit is None or len(self._running) < limit):
            cells = self._queue.popleft()
            job = job_for(cells, self._plan, self._run_id, self._store.path, self._launcher.kind)
            self._running.append(Attempt(cells, self._launcher.launch(job)))

    # messages ----------------------------------------------------------------------------------
    def _apply(self, attempt: Attempt, message: Message) -> None:
        """Act on one message of a group (`messages`): store writes go to the store (a finished cell scored
        here first), events to the run's events, the last word is kept for when the group ends."""
        match message:
            case Started(where):
                attempt.where, attempt.running_since = where, time.monotonic()
                attempt.step, attempt.step_since = (None, "start"), attempt.running_since
            case FinishCell(run_id, cell_id, summary, info):
                try:
                    summary, info = self._scored(attempt, cell_id, summary, info)
                except Exception as exc:  # as a local cell's summary step: this cell fails, the sweep goes on
                    self._stored_failed(
                        attempt, run_id, cell_id, error_of(exc), {**info, "failed_at": "summary"}, summary
                    )
                    return
                self._store.finish_cell(run_id, cell_id, summary, info)
                attempt.ended.add(cell_id)
            case FailCell(run_id, cell_id, error, info, summary):
                self._stored_failed(attempt, run_id, cell_id, error, info, summary)
            case StartCell(run_id, cell_id):
                self._store.start_cell(run_id, cell_id)
            case AddRecords(run_id, cell_id, records):
                self._store.add_records(run_id, cell_id, records)
            case CellStarted() | RecordMeasured() | StepStarted() | CellFinished():
                self._event(attempt, message)
            case Done() | GroupError():
                attempt.result = message
            case _:
                raise TypeError(f"a group sent {type(message).__name__}, which is not a message (a vlmperf bug)")

    def _stored_failed(
        self,
        attempt: Attempt,
        run_id: str,
        cell_id: str,
        error: dict[str, str],
        info: dict | None,
        summary: CellSummary | None,
    ) -> None:
        self._store.fail_cell(run_id, cell_id, error, info, summary)
        attempt.ended.add(cell_id)
        self._failed += 1

    def _event(self, attempt: Attempt, message: CellStarted | RecordMeasured | StepStarted | CellFinished) -> None:
        """Pass a group's event on to the run's events, charging the time of each step to its cell."""
        cell = next((c for c in attempt.cells if c.id == message.cell_id), None)
        match message:
            case StepStarted(cell_id, stage):
                now = time.monotonic()
                if attempt.step[0] is not None:
                    charged = attempt.charged.get(attempt.step[0], 0.0)
                    attempt.charged[attempt.step[0]] = charged + now - attempt.step_since
                attempt.step, attempt.step_since = (cell_id, stage), now
                self._events.step_started(cell, stage)
            case CellStarted():
                assert cell is not None
                self._events.cell_started(cell)
            case RecordMeasured(_, seq):
                assert cell is not None
                self._events.record_measured(cell, seq)
            case CellFinished(_, status, error):
                assert cell is not None
                self._events.cell_finished(cell, status, error)

    def _scored(self, attempt: Attempt, cell_id: str, summary: CellSummary, info: dict) -> tuple[CellSummary, dict]:
        """A finished cell's summary and info with its outputs scored here (see `runner.quality`)."""
        cell = next(c for c in attempt.cells if c.id == cell_id)

        def samples() -> list:
            return self._plan.workload_for(cell).samples

        return complete_pending(self._quality, summary, info, samples, f"run {self._run_id}, cell {cell_id}")

    # ending ------------------------------------------------------------------------------------
    def _end(self, attempt: Attempt, ended: Ended) -> None:
        self._running.remove(attempt)
        unfinished = attempt.unfinished()
        if not unfinished:
            return
        busy, stage = attempt.step
        if isinstance(attempt.result, GroupError):
            for cell in unfinished:
                self._fail(cell, attempt.result.error, stage if cell.id == busy else "pending", attempt)
            return
        if attempt.result is not None or ended.cause is None:  # said done, or exited cleanly, with cells unstored
            why = "its group's process ended without storing it (a vlmperf bug: please report it)"
            for cell in unfinished:
                self._fail(cell, {"type": "Lost", "message": why}, stage, attempt)
            return
        culprits = [c for c in unfinished if c.id == busy] or unfinished
        again = [c for c in unfinished if c not in culprits]
        for cell in culprits:
            self._tries[cell.id] += 1
            if ended.retry and self._tries[cell.id] <= self._settings.max_retries:
                again.append(cell)
                continue
            tried = f" (tried {self._tries[cell.id]} times)" if self._tries[cell.id] > 1 else ""
            self._fail(cell, {"type": ended.kind, "message": f"{ended.cause}{tried}"}, stage, attempt)
        if again:
            self._queue.appendleft([c for c in attempt.cells if c in again])

    def _fail(self, cell: Cell, error: dict[str, str], stage: str, attempt: Attempt) -> None:
        self._store.fail_cell(self._run_id, cell.id, error, {"failed_at": stage, "executor": attempt.where or None})
        self._events.cell_finished(cell, "failed", f"{error['type']}: {error['message'].splitlines()[0]}")
        self._failed += 1

    # time --------------------------------------------------------------------------------------
    def _stop_overdue(self) -> None:
        limit = self._settings.cell_timeout_s
        if limit is None:
            return
        now = time.monotonic()
        for attempt in self._running:
            if attempt.running_since is None or attempt.result is not None:
                continue  # not started yet (a Ray task may wait for resources), or finished already
            busy, stage = attempt.step
            spent = now - attempt.step_since + (attempt.charged.get(busy, 0.0) if busy else 0.0)
            allowed = limit if busy else limit * len(attempt.unfinished())
            if spent > allowed:
                what = f"cell {busy} took more than {limit:g} s" if busy else f"its group took more than {allowed:g} s"
                self._launcher.stop(
                    attempt.handle,
                    f"timed out: {what} (executor.cell_timeout_s {limit:g}), in its {stage}",
                    "CellTimeout",
                )
