"""Where a sweep's groups of cells run: `local` (this process), `process` (a child each), `ray` (a cluster).

    failed = run_groups(groups, plan, store, run_id, events)   # the run's executor settings decide

Every executor runs the same group runners and writes the same store; only where the work
happens and what a failure can take down differ (see each module).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vlmperf.runner.events import RunEvents
from vlmperf.runner.plan import Cell
from vlmperf.store.sqlite import Store

if TYPE_CHECKING:
    from vlmperf.runner.execute import Plan


def run_groups(groups: list[list[Cell]], plan: Plan, store: Store, run_id: str, events: RunEvents) -> int:
    """Measure the groups with the executor `plan.spec.executor` names; returns how many cells failed."""
    settings = plan.spec.executor
    if settings.kind == "local":
        from vlmperf.runner.executors.local import run_here

        return run_here(groups, plan, store, run_id, events)
    from vlmperf.runner.executors.supervise import Supervisor

    if settings.kind == "process":
        from vlmperf.runner.executors.process import ProcessLauncher

        launcher = ProcessLauncher(settings)
    else:
        from vlmperf.runner.executors.ray_tasks import RayLauncher

        launcher = RayLauncher(settings)
    return Supervisor(launcher, settings, plan, store, run_id, events).run(groups)
