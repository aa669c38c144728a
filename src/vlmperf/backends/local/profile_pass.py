"""The per-module profile of one batch and its torch.profiler trace: a pass of its own, after a cell's
timed runs, on the same generate call (`measure.profile: true`, `vlmperf profile`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from vlmperf.backends.local.inputs import PreparedBatch
from vlmperf.meters.clock import Clock
from vlmperf.meters.module_times import profile_generate
from vlmperf.meters.torch_trace import export_trace


def profile_pass(
    model: Any,
    batch: PreparedBatch,
    untimed_generate: Callable[[PreparedBatch], Any],
    clock: Clock,
    device: str,
    seed: int,
    trace_path: Path,
) -> dict[str, Any]:
    """`{"sample_ids", "modules", "trace"}`: each module's time in one generate call over `batch`, and the
    call's trace written to `trace_path`. The call runs once unhooked first, so one-time costs of the
    batch stay out of the profile; each profiled call starts from the same sampling seed."""
    untimed_generate(batch)
    torch.manual_seed(seed)
    modules = profile_generate(model, lambda: untimed_generate(batch), clock)
    torch.manual_seed(seed)
    trace = export_trace(lambda: untimed_generate(batch), trace_path, device, model=model)
    return {"sample_ids": batch.sample_ids, "modules": modules, "trace": trace}
