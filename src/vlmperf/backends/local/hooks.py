"""The local kind's hooks (`TargetKind.hooks`): what the runner calls to check and measure local cells.

Imported only when a run has local cells; each call imports transformers' side of the backend after
silencing its known import noise.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vlmperf.backends.local.availability import silence_known_import_noise
from vlmperf.backends.local.target import LocalTarget
from vlmperf.errors import InputError

if TYPE_CHECKING:
    from vlmperf.config.spec import CellSpec
    from vlmperf.runner.events import RunEvents
    from vlmperf.runner.plan import Cell, Plan
    from vlmperf.runner.quality import CellQuality
    from vlmperf.runner.sink import CellSink


def check(spec: CellSpec) -> None:
    """Model references, and an energy source named explicitly: what this machine lacks (a GPU, a
    package) fails its cells at load time instead, so a sweep over devices or optimisations still
    measures the cells this machine can run."""
    silence_known_import_noise()  # before the first import of transformers, which loading makes
    from vlmperf.backends.local.loading import check_model_references

    target = _local(spec)
    check_model_references(target)
    if spec.measure.energy not in ("auto", "none"):
        from vlmperf.backends.local.energy_context import check_energy_source

        check_energy_source(target.device, spec.measure.energy)


def lacks(spec: CellSpec) -> str | None:
    """What this machine lacks for the cell (a GPU, flash-attn, bitsandbytes, a compiler), or None."""
    from vlmperf.backends.local.availability import check_target

    try:
        check_target(_local(spec))
    except InputError as exc:
        return str(exc)
    return None


def run_group(
    cells: list[Cell], plan: Plan, sink: CellSink, run_id: str, events: RunEvents, quality: CellQuality
) -> int:
    silence_known_import_noise()  # again: a group may run in a fresh process (runner.executors)
    from vlmperf.backends.local.group import run_group as measure

    return measure(cells, plan, sink, run_id, events, quality)


def _local(spec: CellSpec) -> LocalTarget:
    target = spec.target
    assert isinstance(target, LocalTarget)  # the registry hands this kind its own cells only
    return target
