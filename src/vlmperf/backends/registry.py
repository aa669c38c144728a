"""The registry of target kinds: the one list of what vlmperf can measure.

Adding a kind is a package `vlmperf/backends/<kind>/` declaring a `TargetKind`, and one line below
(or a `register` call, for a kind defined outside vlmperf). The config's `target` section, the
runner, the metric registry, the tables, compare and the HTML report read the kinds from here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, get_args

from vlmperf.backends.endpoint.kind import ENDPOINT
from vlmperf.backends.local.kind import LOCAL
from vlmperf.backends.target_kind import ScenarioKind, TargetKind
from vlmperf.errors import InputError

if TYPE_CHECKING:
    from vlmperf.runner.plan import Cell

KINDS: dict[str, TargetKind] = {}
"""Every registered kind by name, in registration order (the order of tables and docs)."""
DEFAULT_KIND = "local"
"""The kind of a target that does not say (`target: {model: ...}`), and of a record without `backend`."""
SCENARIO_KINDS: tuple[str, ...] = get_args(ScenarioKind)
_LISTENERS: list[Callable[[TargetKind], None]] = []


def register(kind: TargetKind) -> TargetKind:
    """Add a kind; everything that reads kinds sees it from now on (its metrics are defined at once)."""
    if kind.name in KINDS:
        raise ValueError(f"target kind {kind.name} is registered twice")
    declared = kind.spec.model_fields["kind"].default
    if declared != kind.name:
        raise ValueError(f"target kind {kind.name}: its spec's kind defaults to {declared!r}, not {kind.name!r}")
    unknown = [s for s in kind.scenarios if s not in SCENARIO_KINDS]
    if not kind.scenarios or unknown:
        raise ValueError(f"target kind {kind.name}: scenarios must be some of {', '.join(SCENARIO_KINDS)}")
    KINDS[kind.name] = kind
    for listener in _LISTENERS:
        listener(kind)
    return kind


def when_registered(listener: Callable[[TargetKind], None]) -> None:
    """Call `listener` for every kind registered so far and every kind registered later. The metric registry
    imports each kind's `metric_modules` this way: a kind's package never imports the metrics, and a kind
    registered after they were loaded still has its metrics defined."""
    _LISTENERS.append(listener)
    for kind in list(KINDS.values()):
        listener(kind)


def target_kind_of(cell: Cell) -> TargetKind:
    """The kind of a cell's target. A kind `register`ed at run time is known to the process that registered
    it: a group sent to a child process or a Ray worker finds only the kinds listed here."""
    kind = KINDS.get(cell.spec.target.kind)
    if kind is None:
        raise InputError(
            f"target kind {cell.spec.target.kind} is not registered in this process; a kind registered at run "
            "time runs with executor local only (list it in vlmperf.backends.registry to run it anywhere)"
        )
    return kind


register(LOCAL)
register(ENDPOINT)
