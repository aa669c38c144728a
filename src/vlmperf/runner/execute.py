"""Run a planned sweep in this process: check inputs, group cells by loaded model, measure, store.

Everything a user can get wrong (devices, model paths, datasets) is checked before the run is
created, so a mistake never leaves a half-made run behind. Cells that share how the model is
loaded run on one loaded model, so a batch-size sweep never reloads. A cell that raises is stored
as failed with its error and the sweep goes on; Ctrl-C marks the run partial.
"""

from __future__ import annotations

import gc
import random
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from vlmperf.backends.local.loading import check_device, check_model_reference, load_model
from vlmperf.config.spec import RunSpec
from vlmperf.metrics.cell_summary import summarize_records
from vlmperf.runner.events import RunEvents, Silent
from vlmperf.runner.manifest import build_manifest
from vlmperf.runner.measure import CellMeasurement
from vlmperf.runner.plan import Cell, expand
from vlmperf.store.sqlite import Store, new_run_id
from vlmperf.workloads.sample import Sample
from vlmperf.workloads.sources import load_samples

@dataclass(frozen=True)
class RunOutcome:
    run_id: str
    status: str
    cells: int
    failed: int
    skipped: int
    resumed: bool


def load_key(cell: Cell) -> str:
    """Cells with the same target (every target field decides how the model is loaded) share one model."""
    return cell.spec.target.model_dump_json()


@dataclass(frozen=True)
class Plan:
    """A checked sweep: its cells and every workload's samples, ready to measure."""

    spec: RunSpec
    cells: list[Cell]
    samples: dict[str, list[Sample]]

    def samples_for(self, cell: Cell) -> list[Sample]:
        return self.samples[cell.spec.workload.model_dump_json()]


def prepare(run: RunSpec, where: str = "config") -> Plan:
    """Expand the sweep and check every cell's device, model reference and samples, before any work."""
    cells = expand(run, where)
    samples: dict[str, list[Sample]] = {}
    for cell in cells:
        check_device(cell.spec.target.device)
        check_model_reference(cell.spec.target)
        key = cell.spec.workload.model_dump_json()
        if key not in samples:
            samples[key] = load_samples(cell.spec.workload)
    return Plan(run, cells, samples)


def error_of(exc: BaseException) -> dict[str, str]:
    """The stored form of a cell's error: its type, whole message and traceback."""
    return {
        "type": type(exc).__name__,
        "message": str(exc).strip() or type(exc).__name__,
        "traceback": "".join(traceback.format_exception(exc)),
    }


def execute(plan: Plan, store: Store, *, resume: bool | str = False, events: RunEvents | None = None) -> RunOutcome:
    """Run a prepared sweep; results are in `store` as they are measured."""
    events = events or Silent()
    run, cells = plan.spec, plan.cells
    manifest = build_manifest(run.model_dump(mode="json"), local=True, devices=[c.spec.target.device for c in cells])
    run_id = _resumed_run(store, resume, [c.id for c in cells])
    resumed = run_id is not None
    if run_id is None:
        run_id = new_run_id()
        store.create_run(run_id, run.name, manifest)
    else:
        earlier = store.claim_run(run_id).manifest
        manifest = {**earlier, "resumed": [*earlier.get("resumed", []), {k: v for k, v in manifest.items() if k != "config"}]}
        store.update_manifest(run_id, manifest)
    for position, cell in enumerate(cells):
        store.add_cell(run_id, cell.id, position, cell.config, cell.swept)
    pending = [c for c in cells if store.cell_status(run_id, c.id) != "ok"]
    events.run_started(run_id, len(cells), len(cells) - len(pending))

    failed = 0
    status = "partial"
    try:
        for group in _groups(pending):
            failed += _run_group(group, plan, store, run_id, events)
        status = "complete"
    finally:
        store.set_run_status(run_id, status)
        events.run_finished(run_id, status)
    return RunOutcome(run_id, status, len(cells), failed, len(cells) - len(pending), resumed)


def _resumed_run(store: Store, resume: bool | str, cell_ids: list[str]) -> str | None:
    """`--resume`: the newest run holding any of this plan's cells (its finished cells are kept)."""
    if not resume:
        return None
    if isinstance(resume, str):
        return store.run(resume).id
    return store.latest_run_with_any_cell(cell_ids)


def _groups(cells: list[Cell]) -> list[list[Cell]]:
    groups: dict[str, list[Cell]] = {}
    for cell in cells:
        groups.setdefault(load_key(cell), []).append(cell)
    return list(groups.values())


INTERRUPTED = {"type": "Interrupted", "message": "stopped by Ctrl-C; --resume measures it again"}
ORDER_SEED = 0
"""Seed of the random order in which interleaved cells take their timed runs (reproducible order)."""


class _ActiveCell:
    """A cell being measured: its measurement, the records kept so far, and its store updates."""

    def __init__(self, cell: Cell, loaded: Any, plan: Plan, store: Store, run_id: str, events: RunEvents) -> None:
        self.cell, self._store, self._run_id, self._events = cell, store, run_id, events
        self.records: list[dict[str, Any]] = []
        store.start_cell(run_id, cell.id)
        events.cell_started(cell)
        self.measurement = CellMeasurement(loaded, cell.spec, plan.samples_for(cell), self._keep)

    def _keep(self, seq: int, record: dict[str, Any]) -> None:
        self._store.add_record(self._run_id, self.cell.id, seq, record)
        self.records.append(record)
        self._events.record_measured(self.cell, seq)

    def finish(self) -> None:
        self._store.finish_cell(self._run_id, self.cell.id, summarize_records(self.records), self.measurement.info())
        self._events.cell_finished(self.cell, "ok", None)


def _run_group(group: list[Cell], plan: Plan, store: Store, run_id: str, events: RunEvents) -> int:
    """Load the group's model once and measure its cells; returns how many failed."""
    try:
        loaded = load_model(group[0].spec.target)
    except Exception as exc:  # a model that will not load fails its cells, not the sweep
        for cell in group:
            store.start_cell(run_id, cell.id)
            events.cell_started(cell)
            _fail(store, run_id, cell, exc, events, stage="load")
        return len(group)
    try:
        rounds = [group] if plan.spec.interleave else [[cell] for cell in group]
        return sum(_measure_together(cells, loaded, plan, store, run_id, events) for cells in rounds)
    finally:
        del loaded
        _free_device_memory()


def _measure_together(
    cells: list[Cell], loaded: Any, plan: Plan, store: Store, run_id: str, events: RunEvents
) -> int:
    """Warm every cell up, then give each unfinished cell one timed run per round, in random order."""
    rng = random.Random(ORDER_SEED)
    active: list[_ActiveCell] = []
    failed = 0

    def attempt(cell: Cell, step: Callable[[], Any], stage: str) -> Any:
        nonlocal failed
        try:
            return step()
        except KeyboardInterrupt:
            for unfinished in {a.cell.id for a in active} | {cell.id}:
                store.fail_cell(run_id, unfinished, INTERRUPTED)
            raise
        except Exception as exc:  # stored as a failed cell with its cause; the sweep goes on
            _fail(store, run_id, cell, exc, events, stage=stage)
            failed += 1
            return None

    for cell in cells:
        started = attempt(cell, lambda cell=cell: _ActiveCell(cell, loaded, plan, store, run_id, events), "prepare")
        if started is not None and attempt(cell, lambda a=started: a.measurement.warm_up() or True, "warm-up"):
            active.append(started)
        _free_device_memory()
    while active:
        order = list(active)
        rng.shuffle(order)
        for current in order:
            measured = attempt(current.cell, lambda a=current: a.measurement.measure_once() or True, "measure")
            if measured and current.measurement.done():
                attempt(current.cell, current.finish, "summary")
                active.remove(current)
            elif not measured:
                active.remove(current)
                _free_device_memory()  # out of the except block, so the traceback's tensors can be freed
    return failed


def _fail(store: Store, run_id: str, cell: Cell, exc: Exception, events: RunEvents, stage: str) -> None:
    error = error_of(exc)
    store.fail_cell(run_id, cell.id, error, {"failed_at": stage})
    events.cell_finished(cell, "failed", f"{error['type']}: {error['message'].splitlines()[0]}")


def _free_device_memory() -> None:
    gc.collect()
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()
