"""Where a sweep's groups of cells run: `local` (this process), `process` (a child each), `ray` (a cluster).

    failed = run_groups(groups, plan, store, run_id, events)   # the run's executor settings decide

Every executor runs the same group runners and writes the same store; only where the work
happens and what a failure can take down differ (see each module).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from vlmperf.config.spec import Executor
from vlmperf.runner.events import RunEvents
from vlmperf.runner.executors.local import run_here
from vlmperf.runner.executors.supervise import Launcher, Supervisor
from vlmperf.runner.plan import Cell
from vlmperf.store.sqlite import Store

if TYPE_CHECKING:
    from vlmperf.runner.plan import Plan


def _process_launcher(settings: Executor) -> Launcher:
    from vlmperf.runner.executors.process import ProcessLauncher

    return ProcessLauncher(settings)


def _ray_launcher(settings: Executor) -> Launcher:
    from vlmperf.runner.executors.ray_tasks import RayLauncher

    return RayLauncher(settings)


LAUNCHERS: dict[str, Callable[[Executor], Launcher]] = {"process": _process_launcher, "ray": _ray_launcher}
"""The isolating executors, each a launcher the supervisor drives (imported only when used)."""


def run_groups(groups: list[list[Cell]], plan: Plan, store: Store, run_id: str, events: RunEvents) -> int:
    """Measure the groups with the executor `plan.spec.executor` names; returns how many cells failed."""
    settings = plan.spec.executor
    if settings.kind == "local":
        return run_here(groups, plan, store, run_id, events)
    launcher = LAUNCHERS[settings.kind](settings)
    return Supervisor(launcher, settings, plan, store, run_id, events).run(groups)
