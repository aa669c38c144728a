"""A torch.profiler trace of one generate call, exported as a Chrome trace (Perfetto, chrome://tracing).

A pass of its own, never a timed window: the profiler records every operator (with input shapes)
and, given the model, a named range per module forward call, so the trace reads as the model's
own tree ("model.language_model.layers.0.self_attn" around its aten::linear calls). Eager-mode
module stacks from the profiler itself (`with_modules`) cover TorchScript only, and Python stacks
(`with_stack`) multiply the trace's size, so ranges from forward hooks are the cheap way here.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import torch
from torch.profiler import ProfilerActivity, profile, record_function

from vlmperf.meters.hooks import HookSet

MODULE_RANGE_PREFIX = "module: "
"""Names of the module ranges in the trace; they are left out of the top-ops summary."""


class ModuleRanges(HookSet):
    """Forward hooks that open a profiler range per module call, named by the module's path."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self._model = model

    def install(self) -> None:
        for name, module in self._model.named_modules():
            self._hook(name or type(module).__name__, module)

    def _hook(self, name: str, module: torch.nn.Module) -> None:
        title = f"{MODULE_RANGE_PREFIX}{name} ({type(module).__name__})"
        open_ranges: list[record_function] = []

        def before(_module: torch.nn.Module, _args: Any) -> None:
            current = record_function(title)
            current.__enter__()
            open_ranges.append(current)

        def after(_module: torch.nn.Module, _args: Any, _output: Any) -> None:
            open_ranges.pop().__exit__(None, None, None)

        self._add(module, before, after)


def export_trace(
    run_generate: Callable[[], Any],
    path: Path,
    device: str,
    *,
    model: torch.nn.Module | None = None,
    top: int = 10,
) -> dict[str, Any]:
    """Profile one `run_generate()` call, write its Chrome trace JSON to `path`, return a summary.

    A `path` ending in `.gz` is written gzip-compressed (Perfetto opens both).

    CPU activity always, CUDA too when `device` is a cuda device; input shapes are recorded. With
    `model`, each module's forward call is a named range in the trace. The summary holds the path,
    the number of profiler events, and the `top` operators by self CPU time (and by self CUDA time
    on a GPU), in seconds.
    """
    cuda = device.startswith("cuda")
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ranges = ModuleRanges(model) if model is not None else nullcontext()
    with ranges, profile(activities=activities, record_shapes=True) as prof:
        run_generate()
        if cuda:
            torch.cuda.synchronize(torch.device(device))  # the kernels end inside the trace
    prof.export_chrome_trace(str(path))
    ops = [e for e in prof.key_averages() if not e.key.startswith(MODULE_RANGE_PREFIX)]
    summary: dict[str, Any] = {
        "path": str(path),
        "bytes": path.stat().st_size,
        "events": len(prof.events()),
        "activities": ["cpu", "cuda"] if cuda else ["cpu"],
        "top_ops_self_cpu": _top(ops, "self_cpu_time_total", top),
    }
    if cuda:
        summary["top_ops_self_cuda"] = _top(ops, "self_device_time_total", top)
    return summary


def _top(ops: list[Any], field: str, count: int) -> list[dict[str, Any]]:
    """The operators with most of `field` (profiler microseconds), as name, calls, seconds."""
    ranked = sorted(ops, key=lambda e: getattr(e, field), reverse=True)[:count]
    return [
        {"name": e.key, "calls": e.count, "self_s": getattr(e, field) / 1e6} for e in ranked if getattr(e, field) > 0
    ]
