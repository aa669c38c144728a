"""Everything vlmperf knows of one kind of target, in one object: its spec, which scenarios it runs,
how its cells are checked, grouped and measured, where its metrics are defined and how the report
shows it.

A kind lives in its own package (`vlmperf/backends/<kind>/`) and declares one `TargetKind` there;
`vlmperf.backends.registry` lists the kinds. Nothing else in vlmperf names a kind: the config, the
runner, the metrics, the tables, compare and the HTML report all ask the registry. What measures is
named, not imported: `hooks` and `metric_modules` are module paths, imported when first used, so
declaring a kind imports only its spec (pydantic). An endpoint run never imports torch, a local one
never the HTTP client, and the config (which validates targets through the registry) never depends on
a backend.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import import_module
from typing import TYPE_CHECKING, Any, Literal, Protocol, cast

from vlmperf.config.spec_base import Spec

if TYPE_CHECKING:
    from vlmperf.config.spec import CellSpec
    from vlmperf.runner.events import RunEvents
    from vlmperf.runner.plan import Cell, Plan
    from vlmperf.runner.quality import CellQuality
    from vlmperf.runner.sink import CellSink

GroupRunner = Callable[["list[Cell]", "Plan", "CellSink", str, "RunEvents", "CellQuality"], int]
"""Measures one group of cells (start each, hand its records to the sink, finish it with its summary) and
returns how many of them failed."""
ScenarioKind = Literal["offline", "single-stream", "concurrent", "rate"]
"""Every scenario the load generators know (`scenario.kind`); each target kind runs some of them."""
Column = tuple[str, str, str]
"""(metric, statistic, column title) of the summary table; the title carries the unit shown."""


class TargetSpec(Spec):
    """The spec of a target: each kind's spec derives from it and narrows `kind` to its own name
    (`kind: Literal["endpoint"] = "endpoint"`)."""

    kind: str


class KindHooks(Protocol):
    """The module a kind's `hooks` names: `run_group` measures one group of cells and returns how many of them
    failed; `check(cell spec)`, when the module has one, fails before the run on what the user can fix;
    `lacks(cell spec)`, when it has one, says what this machine lacks to run the cell (None: nothing)."""

    run_group: GroupRunner


def _nothing(spec: CellSpec) -> None:
    """No rule beyond the spec's own."""


def _no_device(target: Any) -> str | None:
    return None


@dataclass(frozen=True)
class KindReport:
    """How the report shows cells of a kind. Every metric named must be registered (the registry test
    checks it)."""

    headline: tuple[Column, ...]
    """The summary table's columns; a run holding several kinds shows each kind's, in registry order."""
    latency: str
    """A record's main latency: `vlmperf compare`'s default metric, the report's latency distribution."""
    bar_latencies: tuple[str, ...]
    """The latencies whose mean each cell shows as a bar."""
    sweep_plots: tuple[str, ...]
    """The metrics drawn against each swept axis (those the cells have)."""
    costs: Mapping[str, str] = field(default_factory=dict)
    """Cost axes of the quality plot ("latency", "energy") -> the metric whose p50 stands for it."""
    cell_noun: str = "cell"
    """What one of its cells is to a reader ("provider" for endpoints): plot titles say "per <noun>"."""
    study_table: Literal["providers", "points", "headline"] = "headline"
    """The study tables' layout: one table per provider, the local study's points table, or the
    summary table's headline columns."""
    roofline: bool = False
    """Its cells have compute and memory-traffic figures to place on a roofline."""


@dataclass(frozen=True)
class TargetKind:
    """One kind of target.

    `hooks` is the module that measures (`KindHooks`: `run_group`, optional `check` and `lacks`), imported
    when the runner first needs it; `fits(cell spec)` raises ValueError for settings that do not apply to
    the kind (a config error, found when the config is read); `group_key(cell)` says which cells run
    together; `device(target)` names the device of this machine a cell runs on (None: not this machine's
    hardware), for the manifest and Ray's GPUs."""

    name: str
    title: str
    """The kind's section title in docs/metrics.md."""
    spec: type[TargetSpec]
    scenarios: tuple[ScenarioKind, ...]
    """The scenario kinds it runs; the first is the default."""
    hooks: str
    group_key: Callable[[Cell], str]
    report: KindReport
    fits: Callable[[CellSpec], None] = _nothing
    device: Callable[[Any], str | None] = _no_device
    metric_modules: tuple[str, ...] = ()
    """Modules defining its metrics (`@metric(..., targets=(name,))`), imported with the metric registry."""

    def _hooks(self) -> KindHooks:
        return cast(KindHooks, import_module(self.hooks))

    def run_group(
        self, cells: list[Cell], plan: Plan, sink: CellSink, run_id: str, events: RunEvents, quality: CellQuality
    ) -> int:
        return self._hooks().run_group(cells, plan, sink, run_id, events, quality)

    def check(self, spec: CellSpec) -> None:
        check = getattr(self._hooks(), "check", None)
        if check is not None:
            check(spec)

    def lacks(self, spec: CellSpec) -> str | None:
        lacks = getattr(self._hooks(), "lacks", None)
        return None if lacks is None else lacks(spec)
