"""Measure the cells that share one loaded model: load it once, warm every cell up, then timed runs.

With `interleave` (the default) the cells take one timed run each per round, in a seeded random
order per round, so drift in the machine's speed hits every setting alike; without it, one cell
after the other. A cell that raises is stored as failed with its cause and the others go on;
Ctrl-C marks every unfinished cell as interrupted and stops.
"""

from __future__ import annotations

import functools
import gc
import random
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from vlmperf.backends.local.after_window import local_target
from vlmperf.backends.local.energy_context import GroupEnergy
from vlmperf.backends.local.flop_pass import AnalyticCheck
from vlmperf.backends.local.loading import load_model
from vlmperf.backends.local.measure import CellMeasurement
from vlmperf.backends.local.record import LocalRecord
from vlmperf.metrics.cell_summary import summarize_records
from vlmperf.metrics.summary_types import CellSummary
from vlmperf.runner.cell_errors import INTERRUPTED, fail_cell
from vlmperf.runner.events import RunEvents
from vlmperf.runner.plan import Cell
from vlmperf.runner.quality import CellQuality
from vlmperf.runner.sink import CellSink

if TYPE_CHECKING:
    from vlmperf.runner.plan import Plan


ORDER_SEED = 0
"""Seed of the random order in which interleaved cells take their timed runs (reproducible order)."""


class _ActiveCell:
    """A cell being measured: its measurement, the records kept so far, and its store updates."""

    def __init__(
        self,
        cell: Cell,
        loaded: Any,
        plan: Plan,
        store: CellSink,
        run_id: str,
        events: RunEvents,
        energy: GroupEnergy,
        load_s: float,
        flop_check: AnalyticCheck,
    ) -> None:
        self.cell, self._store, self._run_id, self._events = cell, store, run_id, events
        self.records: list[dict[str, Any]] = []
        self._workload = plan.workload_for(cell)
        store.start_cell(run_id, cell.id)
        events.cell_started(cell)
        target = local_target(cell.spec)
        idle_before = energy.idle_s
        cell_energy = energy.for_cell(target.device, cell.spec.measure.energy)
        self._group_time_s = {"load": load_s, "idle_power": energy.idle_s - idle_before}
        """The group's one-off costs, booked on the cell that paid them (its first), 0 on the others."""
        self.measurement = CellMeasurement(
            loaded, cell.spec, self._workload.samples, self._keep, cell_energy, flop_check
        )

    def warm_up(self) -> bool:
        """The cell's warm-up runs; True once they ran (`attempt` gives None for a step that raised)."""
        self.measurement.warm_up()
        return True

    def measure_once(self) -> bool:
        """One measured window; True once it ran."""
        self.measurement.measure_once()
        return True

    def _keep(self, seq: int, typed: LocalRecord) -> None:
        record = cast(dict[str, Any], typed)  # from here on a plain record, as the store and the metrics read it
        self._store.add_records(self._run_id, self.cell.id, [(seq, record)])
        self.records.append(record)
        self._events.record_measured(self.cell, seq)

    def finish(self, quality: CellQuality) -> None:
        where = f"run {self._run_id}, cell {self.cell.id}"
        workload = self._workload
        started = time.perf_counter()
        scores, scoring_info = quality.score(self.cell.spec.workload.task, self.records, workload.samples, where)
        scoring_s = time.perf_counter() - started
        summary: CellSummary = {**summarize_records(self.records), **self.measurement.figures(), **scores}
        profile = None
        if self.cell.spec.measure.profile:
            trace = self._store.path.parent / "traces" / self._run_id / f"{self.cell.id}.trace.json"
            try:
                profile = self.measurement.profile(trace)
            except Exception as exc:  # the profile is an extra pass: the cell's measured figures stand
                profile = {"error": f"{type(exc).__name__}: {exc}"}
        info = {
            **self.measurement.info(),
            "profile": profile,
            "quality": scoring_info,
            "dataset": workload.provenance,
            "failed_samples": workload.failed,
            "time_s": {**self._group_time_s, **self.measurement.time_s, "scoring": scoring_s},
        }
        self._store.finish_cell(self._run_id, self.cell.id, summary, info)
        self._events.cell_finished(self.cell, "ok", None)


def run_group(
    group: list[Cell], plan: Plan, store: CellSink, run_id: str, events: RunEvents, quality: CellQuality
) -> int:
    """Load the group's model once and measure its cells; returns how many failed."""
    events.step_started(None, "load")
    started = time.perf_counter()
    try:
        loaded = load_model(local_target(group[0].spec))
    except Exception as exc:  # a model that will not load fails its cells, not the sweep
        for cell in group:
            store.start_cell(run_id, cell.id)
            events.cell_started(cell)
            fail_cell(store, run_id, cell, exc, events, stage="load")
        return len(group)
    load_s = time.perf_counter() - started
    try:
        rounds = [group] if plan.spec.interleave else [[cell] for cell in group]
        energy = GroupEnergy()  # idle power is measured once per loaded model
        check = AnalyticCheck()  # and the analytic FLOP count cross-checked once
        try:
            return sum(
                _measure_together(
                    cells, loaded, plan, store, run_id, events, quality, energy, load_s if i == 0 else 0.0, check
                )
                for i, cells in enumerate(rounds)
            )
        finally:
            energy.close()
    finally:
        del loaded
        _free_device_memory()


def _measure_together(
    cells: list[Cell],
    loaded: Any,
    plan: Plan,
    store: CellSink,
    run_id: str,
    events: RunEvents,
    quality: CellQuality,
    energy: GroupEnergy,
    load_s: float,
    flop_check: AnalyticCheck,
) -> int:
    """Warm every cell up, then give each unfinished cell one timed run per round, in random order.
    `load_s`: the model's load time, booked on the first cell that starts (0 for later rounds)."""
    rng = random.Random(ORDER_SEED)
    active: list[_ActiveCell] = []
    failed = 0

    def attempt(cell: Cell, step: Callable[[], Any], stage: str) -> Any:
        nonlocal failed
        events.step_started(cell, stage)
        try:
            return step()
        except KeyboardInterrupt:
            for unfinished in {a.cell.id for a in active} | {cell.id}:
                store.fail_cell(run_id, unfinished, INTERRUPTED)
            raise
        except Exception as exc:  # stored as a failed cell with its cause; the sweep goes on
            fail_cell(store, run_id, cell, exc, events, stage=stage)
            failed += 1
            return None

    for cell in cells:

        def start(cell: Cell = cell, load_s: float = load_s) -> _ActiveCell:
            return _ActiveCell(cell, loaded, plan, store, run_id, events, energy, load_s, flop_check)

        started = attempt(cell, start, "prepare")
        load_s = 0.0 if started is not None else load_s
        if started is not None and attempt(cell, started.warm_up, "warm-up"):
            active.append(started)
        else:
            _free_device_memory()  # out of the except block, so the traceback's tensors can be freed
    while active:
        order = list(active)
        rng.shuffle(order)
        for current in order:
            measured = attempt(current.cell, current.measure_once, "measure")
            if measured and not current.measurement.done():
                continue
            active.remove(current)
            if measured:
                attempt(current.cell, functools.partial(current.finish, quality), "summary")
            else:
                _free_device_memory()
    return failed


def _free_device_memory() -> None:
    gc.collect()
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()
