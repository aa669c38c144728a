"""The `local` executor: every group in this process, one after the other (the default).

Fastest to start and the only one that needs nothing more, but a crash or a hang in one cell
stops the run (the `process` and `ray` executors isolate groups from each other).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vlmperf.backends.registry import target_kind_of
from vlmperf.runner.events import RunEvents
from vlmperf.runner.executors.placement import placement
from vlmperf.runner.plan import Cell
from vlmperf.runner.quality import RunQuality
from vlmperf.runner.sink import StampedSink
from vlmperf.store.sqlite import Store

if TYPE_CHECKING:
    from vlmperf.runner.plan import Plan


def run_here(groups: list[list[Cell]], plan: Plan, store: Store, run_id: str, events: RunEvents) -> int:
    """Measure every group in this process; one scoring session serves them all. Returns the failed count."""
    sink = StampedSink(store, placement("local"))
    quality = RunQuality(normalised_text_errors=plan.spec.scoring.normalised_text_errors)
    try:
        return sum(target_kind_of(group[0]).run_group(group, plan, sink, run_id, events, quality) for group in groups)
    finally:
        quality.close()
