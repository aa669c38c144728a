"""Per-module profile of one generate call: where the milliseconds go, layer by layer.

This is a pass of its own, never a timed window (DESIGN: measurement rules): a pre- and a
post-forward hook on every module take a clock mark (a CUDA event on GPU, so no hook waits for
the device), the marks are logged in call order, and after one synchronisation at the end the
log is replayed as a call tree. The hooks slow the call down, most on small models, so absolute
figures here run above `latency_s`; what the profile is for is the split between modules.
A compiled forward (generate's compiled decoding steps) runs without its submodules' hooks: its
time shows as the top model's self time, and the profile's `warnings` say so.

Phases: `prefill` is everything up to the end of the top model's first forward call (the prompt
pass, and the image encoding that transformers 5 runs from generate just before it); `decode` is
everything after. The profile's `total_s` is the time inside root-level forward calls: the top
model's calls plus any module generate calls directly (the vision tower and projector, in
transformers 5), so it is the call's forward time without generate's own work in between.

Definitions, per module instance (every call of it in the generate call):
- `calls`: forward calls;
- `total_s`: time inside its forward calls;
- `self_s`: total_s minus the total of the calls made directly inside it (its children in the
  call tree), so the self times of all modules add up to the profile's `total_s`;
- `prefill_total_s`, `prefill_self_s`, `decode_total_s`, `decode_self_s`: the same, by phase.
Per layer class ("CLIPEncoderLayer x2"): instances that ran, their calls, total and self time,
and `share`: self time over the profile's `total_s`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from vlmperf.meters.clock import Clock
from vlmperf.meters.hooks import HookSet

PHASES = ("prefill", "decode")


@dataclass
class _Stats:
    name: str
    cls: str
    calls: int = 0
    total_s: float = 0.0
    self_s: float = 0.0
    by_phase: dict[str, list[float]] = field(default_factory=dict)  # phase -> [total, self]

    def add(self, phase: str, total: float, self_time: float) -> None:
        self.calls += 1
        self.total_s += total
        self.self_s += self_time
        sums = self.by_phase.setdefault(phase, [0.0, 0.0])
        sums[0] += total
        sums[1] += self_time

    def to_dict(self) -> dict[str, Any]:
        row: dict[str, Any] = {
            "name": self.name,
            "class": self.cls,
            "calls": self.calls,
            "total_s": self.total_s,
            "self_s": self.self_s,
        }
        for phase in PHASES:
            total, self_time = self.by_phase.get(phase, (0.0, 0.0))
            row[f"{phase}_total_s"], row[f"{phase}_self_s"] = total, self_time
        return row


class ModuleTimer(HookSet):
    """Hooks on every module of a model, logging a clock mark at each forward call's start and end.

    ``with ModuleTimer(model, clock) as timer: run_generate()``, then ``clock.synchronize()`` and
    ``timer.profile()``. The hooks are removed when the block ends, also on error.
    """

    def __init__(self, model: torch.nn.Module, clock: Clock) -> None:
        super().__init__()
        self._clock = clock
        self._named = list(model.named_modules())  # index 0 is the model itself
        self._log: list[tuple[int, bool, Any]] = []  # (module index, entering?, mark)

    def install(self) -> None:
        for index, (_, module) in enumerate(self._named):
            self._hook(index, module)

    def _hook(self, index: int, module: torch.nn.Module) -> None:
        log, clock = self._log, self._clock

        def before(_module: torch.nn.Module, _args: Any) -> None:
            log.append((index, True, clock.mark()))

        def after(_module: torch.nn.Module, _args: Any, _output: Any) -> None:
            log.append((index, False, clock.mark()))

        self._add(module, before, after)

    def profile(self) -> dict[str, Any]:
        """The JSON-able profile of everything logged (read only after the clock was synchronised)."""
        stats = [_Stats(name, type(module).__name__) for name, module in self._named]
        roots = {phase: 0.0 for phase in PHASES}  # time in root-level calls, by phase
        if self._log:
            self._replay(stats, roots)
        modules = [s.to_dict() for s in stats if s.calls]
        total = sum(roots.values())
        warnings = []
        if stats[0].by_phase.get("decode") and not any(s.by_phase.get("decode") for s in stats[1:]):
            warnings.append(
                "no submodule ran a hooked forward call in the decoding steps (a compiled forward runs without the "
                "hooks): their time is the top model's self time; profile with compile off to see the layers"
            )
        return {
            "clock": self._clock.source,
            "top": stats[0].cls,
            "top_calls": stats[0].calls,
            "top_total_s": stats[0].total_s,
            "total_s": total,
            "prefill_s": roots["prefill"],
            "decode_s": roots["decode"],
            "modules": modules,
            "classes": by_class(modules, total),
            "warnings": warnings,
        }

    def _replay(self, stats: list[_Stats], roots: dict[str, float]) -> None:
        """Rebuild the call tree from the log: each call's duration, minus its direct children's."""
        origin = self._log[0][2]
        stack: list[list[Any]] = []  # [module index, start time, children's total, phase]
        top_done = 0
        for index, entering, mark in self._log:
            at = self._clock.elapsed_s(origin, mark)
            if entering:
                phase = stack[-1][3] if stack else PHASES[min(top_done, 1)]
                stack.append([index, at, 0.0, phase])
                continue
            if not stack or stack[-1][0] != index:
                name = self._named[index][0] or "<top>"
                raise RuntimeError(
                    f"module profile: the forward calls of {name!r} did not nest (a hook was skipped or a module "
                    "was called from another thread); profile a plain single-threaded generate call"
                )
            _, start, children, phase = stack.pop()
            duration = at - start
            stats[index].add(phase, duration, duration - children)
            if stack:
                stack[-1][2] += duration
            else:
                roots[phase] += duration
            top_done += index == 0
        if stack:
            name = self._named[stack[-1][0]][0] or "<top>"
            raise RuntimeError(
                f"module profile: the forward call of {name!r} never returned; read the profile only after the "
                "generate call has finished without error"
            )


def by_class(modules: list[dict[str, Any]], total_s: float) -> list[dict[str, Any]]:
    """Module rows summed by layer class, most self time first.

    A class's `total_s` counts a call twice when instances of the class nest (self_s never does).
    """
    classes: dict[str, dict[str, Any]] = {}
    for row in modules:
        entry = classes.setdefault(
            row["class"],
            {
                "class": row["class"],
                "instances": 0,
                "calls": 0,
                "total_s": 0.0,
                "self_s": 0.0,
                "prefill_self_s": 0.0,
                "decode_self_s": 0.0,
            },
        )
        entry["instances"] += 1
        for key in ("calls", "total_s", "self_s", "prefill_self_s", "decode_self_s"):
            entry[key] += row[key]
    for entry in classes.values():
        entry["share"] = entry["self_s"] / total_s if total_s > 0 else None
    return sorted(classes.values(), key=lambda e: e["self_s"], reverse=True)


def profile_generate(model: torch.nn.Module, run_generate: Callable[[], Any], clock: Clock) -> dict[str, Any]:
    """Run one generate call with every module timed, synchronise once, and return its profile."""
    with ModuleTimer(model, clock) as timer:
        run_generate()
    clock.synchronize()
    return timer.profile()
