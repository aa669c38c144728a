"""What the runner needs of each kind of target, in a registry: its checks, its groups, its runner.

Imports are deferred to the moment a kind is used, so a run of endpoints never imports torch or
transformers, and a run of local models never imports the HTTP client.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from vlmperf.runner.plan import Cell

if TYPE_CHECKING:
    from vlmperf.runner.events import RunEvents
    from vlmperf.runner.plan import Plan
    from vlmperf.runner.quality import CellQuality
    from vlmperf.runner.sink import CellSink

GroupRunner = Callable[["list[Cell]", "Plan", "CellSink", str, "RunEvents", "CellQuality"], int]


@dataclass(frozen=True)
class TargetKind:
    """check(cell spec) fails before the run on what the user can fix; group_key(cell) says which cells run
    together; run_group(...) measures one group and returns how many of its cells failed; lacks(cell
    spec) says what this machine lacks to run the cell (None: nothing)."""

    check: Callable[[Any], None]
    group_key: Callable[[Cell], str]
    run_group: GroupRunner
    lacks: Callable[[Any], str | None] = lambda spec: None


def _local_check(spec: Any) -> None:
    """Model references, and an energy source named explicitly: what this machine lacks (a GPU, a
    package) fails its cells at load time instead, so a sweep over devices or optimisations still
    measures the cells this machine can run."""
    from vlmperf.backends.local.availability import silence_known_import_noise

    silence_known_import_noise()  # before the first import of transformers, which loading makes
    from vlmperf.backends.local.loading import check_model_references

    check_model_references(spec.target)
    if spec.measure.energy not in ("auto", "none"):
        from vlmperf.backends.local.energy_context import check_energy_source

        check_energy_source(spec.target.device, spec.measure.energy)


def _local_lacks(spec: Any) -> str | None:
    """What this machine lacks for the cell (a GPU, flash-attn, bitsandbytes, a compiler), or None."""
    from vlmperf.backends.local.availability import check_target
    from vlmperf.errors import InputError

    try:
        check_target(spec.target)
    except InputError as exc:
        return str(exc)
    return None


def _local_group_key(cell: Cell) -> str:
    """Cells with the same target (every target field decides how the model is loaded) share one model."""
    return cell.spec.target.model_dump_json()


def _local_run(*args: Any) -> int:
    from vlmperf.backends.local.availability import silence_known_import_noise

    silence_known_import_noise()  # again: a group may run in a fresh process (runner.executors)
    from vlmperf.backends.local.group import run_group

    return run_group(*args)


def _endpoint_check(spec: Any) -> None:
    from vlmperf.backends.endpoint.resolve import check_target

    check_target(spec.target)


def _endpoint_group_key(cell: Cell) -> str:
    from vlmperf.backends.endpoint.group import group_key

    return group_key(cell)


def _endpoint_run(*args: Any) -> int:
    from vlmperf.backends.endpoint.group import run_endpoint_group

    return run_endpoint_group(*args)


RUNNERS: dict[str, TargetKind] = {
    "local": TargetKind(_local_check, _local_group_key, _local_run, _local_lacks),
    "endpoint": TargetKind(_endpoint_check, _endpoint_group_key, _endpoint_run),
}


def target_kind_of(cell: Cell) -> TargetKind:
    return RUNNERS[cell.spec.target.kind]
