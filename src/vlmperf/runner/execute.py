"""Run a planned sweep: check inputs, create or resume the run, measure it group by group.

Everything a user can get wrong (model paths, datasets, an energy source named explicitly) is
checked before the run is created, so a mistake never leaves a half-made run behind; what this
machine lacks for some cells (a GPU, flash-attn, bitsandbytes) fails those cells and the rest run.
Cells run in groups, as their target kind says (`backends.registry`): local cells that share how the model
is loaded run on one loaded model, so a batch-size sweep never reloads; endpoint cells that differ
only in target share one time window. The run's executor (`runner.executors`) decides where the
groups run. Ctrl-C marks the run partial.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from vlmperf.backends.registry import target_kind_of
from vlmperf.config.spec import RunSpec
from vlmperf.errors import InputError
from vlmperf.runner.agreement import record_agreement, reference_cells
from vlmperf.runner.events import RunEvents, Silent
from vlmperf.runner.executors import run_groups
from vlmperf.runner.manifest import build_manifest
from vlmperf.runner.plan import Cell, Plan, expand
from vlmperf.store.sqlite import Store, new_run_id
from vlmperf.workloads.sources import LoadedWorkload, load_workload


@dataclass(frozen=True)
class RunOutcome:
    run_id: str
    status: str
    cells: int
    failed: int
    skipped: int
    resumed: bool


def prepare(run: RunSpec, where: str = "config") -> Plan:
    """Expand the sweep and check every cell's model reference, energy source and samples, before any work."""
    cells = expand(run, where)
    references = reference_cells(cells, run.reference, where) if run.reference else None
    workloads: dict[str, LoadedWorkload] = {}
    for cell in cells:
        target_kind_of(cell).check(cell.spec)
    if run.executor.kind != "ray":  # Ray runs cells on other machines, which may have what this one lacks
        refuse_when_no_cell_can_run(cells)
    for cell in cells:
        key = cell.spec.workload.model_dump_json()
        if key not in workloads:
            workloads[key] = load_workload(cell.spec.workload)
    return Plan(run, cells, workloads, references)


def refuse_when_no_cell_can_run(cells: list[Cell]) -> None:
    """A sweep where some cells need what this machine lacks runs the others (those fail with the
    reason); when every cell needs it, no run is made: an all-failed run would become `latest` and
    hide the last good one."""
    lacking = [target_kind_of(cell).lacks(cell.spec) for cell in cells]
    if cells and all(lacking):
        reasons = list(dict.fromkeys(lacking))
        more = f" (and {len(reasons) - 1} other reason(s))" if len(reasons) > 1 else ""
        raise InputError(f"no cell of this run can run on this machine: {reasons[0]}{more}")


def execute(plan: Plan, store: Store, *, resume: bool | str = False, events: RunEvents | None = None) -> RunOutcome:
    """Run a prepared sweep; results are in `store` as they are measured."""
    events = events or Silent()
    started = time.perf_counter()
    run, cells = plan.spec, plan.cells
    devices = [d for d in (target_kind_of(c).device(c.spec.target) for c in cells) if d is not None]
    manifest = build_manifest(run.model_dump(mode="json"), local=bool(devices), devices=devices)
    manifest["datasets"] = [w.provenance for w in plan.workloads.values() if w.provenance is not None]
    run_id = _resumed_run(store, resume, [c.id for c in cells])
    resumed = run_id is not None
    if run_id is None:
        run_id = new_run_id()
        store.create_run(run_id, run.name, manifest)
    else:
        earlier = store.claim_run(run_id).manifest
        manifest = {
            **earlier,
            "resumed": [*earlier.get("resumed", []), {k: v for k, v in manifest.items() if k != "config"}],
        }
        store.update_manifest(run_id, manifest)
    for position, cell in enumerate(cells):
        store.add_cell(run_id, cell.id, position, cell.config, cell.swept)
    pending = [c for c in cells if store.cell_status(run_id, c.id) != "ok"]
    events.run_started(run_id, len(cells), len(cells) - len(pending))

    failed = 0
    status = "partial"
    try:
        failed = run_groups(_groups(pending), plan, store, run_id, events)
        if plan.references:
            record_agreement(store, run_id, plan.references)
        status = "complete"
    finally:
        store.set_run_status(run_id, status)
        store.add_seconds(run_id, "wall_s", time.perf_counter() - started)
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
    """Cells that run together (one loaded model; endpoints that differ only in target), in plan order."""
    groups: dict[tuple[str, str], list[Cell]] = {}
    for cell in cells:
        groups.setdefault((cell.spec.target.kind, target_kind_of(cell).group_key(cell)), []).append(cell)
    return list(groups.values())
