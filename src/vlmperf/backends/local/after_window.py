"""What a timed run's record gets after its window has closed: its FLOPs, its stages on CUDA, the bytes
it had to move. Each costs far more than the run itself or would perturb it, so none sits inside a
measured window (DESIGN: measurement rules); each is done once per distinct shape and reused.

- FLOPs: counted on a replay of the run under the FLOP counter (`flop_pass.FlopPass`), or taken from
  the analytic formula once it has agreed with the counter (`flop_pass.AnalyticCheck`).
- Stages on CUDA: a replay of the run with the stage hooks (`stages_in_window`).
- Bytes: from the model's memory traffic (`meters.memory_traffic`), a formula, no replay.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import torch

from vlmperf.backends.local.flop_pass import AnalyticCheck, FlopPass, batch_key, shape_key
from vlmperf.backends.local.inputs import PreparedBatch
from vlmperf.backends.local.record import LocalRecord
from vlmperf.backends.local.target import LocalTarget
from vlmperf.config.spec import CellSpec
from vlmperf.errors import InputError
from vlmperf.meters.memory_traffic import MemoryTraffic, memory_traffic

Stages = dict[str, float | None] | None


def local_target(spec: CellSpec) -> LocalTarget:
    """The cell's target, a local one: only a local cell's model is loaded and measured in this process."""
    if not isinstance(spec.target, LocalTarget):
        raise TypeError(f"a {spec.target.kind} cell has no model loaded in this process")
    return spec.target


def why_no_flops(spec: CellSpec) -> str | None:
    """Why a cell has no FLOP count, or None when it is counted."""
    if not spec.measure.flops:
        return "measure.flops is false"
    if local_target(spec).attn_implementation == "flash_attention_2":
        return (
            "the FLOP counter has no formula for flash-attn's kernels, so attention would be missing from the "
            "count; count an sdpa cell of the same shapes instead (the work is the same)"
        )
    return None


def stages_in_window(device: str) -> bool:
    """Whether the stage hooks run inside the timed windows (CPU) or in a replay of their own (CUDA).

    A stage mark on CUDA is a recorded event, and recording one at the start and end of every
    forward call cost the launch-bound tiny model 4% of its latency on an H200 (about 2 ms of 46-71
    ms; benchmarks/results/gpu/stage_hook_cost_cuda.json and harness_overhead_tiny.md), twice the
    harness's whole budget; on CPU a mark reads the host clock and the hooks cost about 1%
    (benchmarks/results/harness_overhead_diagnose.md). So on CUDA the first timed run of each
    distinct shape is replayed once with the hooks, after the window (as the FLOP count is), and
    its stages stand for every timed run of that shape.
    """
    return not device.startswith("cuda")


def _traffic_of(model: Any, speculative: bool) -> tuple[MemoryTraffic | None, str | None]:
    """The model's byte counts for the decode limit, or None and why."""
    if speculative:
        return None, (
            "speculative decoding: a verification step reads the draft model's weights too and checks several tokens"
        )
    try:
        return memory_traffic(model), None
    except InputError as exc:
        return None, str(exc)


class AfterWindow:
    """The passes that complete a cell's records after their window: FLOPs, replayed stages, bytes."""

    def __init__(
        self,
        model: Any,
        spec: CellSpec,
        untimed_generate: Callable[[PreparedBatch], Any],
        replay_with_stages: Callable[[PreparedBatch], Stages],
        flop_check: AnalyticCheck | None,
    ) -> None:
        """`untimed_generate`: the timed run's generate call, compiled off (the FLOP counter's replay);
        `replay_with_stages`: the timed run again with the stage hooks, returning its stages;
        `flop_check`: the analytic cross-check shared by the cells of the loaded model (None: its own)."""
        self._spec = spec
        target = local_target(spec)
        self._speculative = target.speculative != "off"
        check = None if self._speculative else (flop_check or AnalyticCheck())
        self.flops = FlopPass(model, untimed_generate, check) if why_no_flops(spec) is None else None
        self.stages_in_window = stages_in_window(target.device)
        self._replay_with_stages = replay_with_stages
        self._stage_replays: dict[tuple[Any, ...], Stages] = {}
        self.traffic, self.why_no_traffic = _traffic_of(model, self._speculative)
        self.flop_s = 0.0
        self.stage_s = 0.0
        """Wall time of the FLOP counting and stage replays, for the run's time budget."""

    def complete(self, record: LocalRecord, batch: PreparedBatch, seq: int) -> None:
        """Add the record's FLOPs, (on CUDA) stages and bytes."""
        steps = record["decode_steps"]
        if self.flops is not None:
            counted = self.flops.seconds
            torch.manual_seed(self._spec.generation.seed + seq)  # the timed run's sampling seed
            record["flops"] = self.flops.count(batch, self._shape(batch, seq, steps), steps)
            self.flop_s += self.flops.seconds - counted
        if not self.stages_in_window:
            started = time.perf_counter()
            record["stages"] = self._replayed_stages(batch, seq, steps)
            self.stage_s += time.perf_counter() - started
        record["bytes"] = self._bytes(batch, steps)

    def _shape(self, batch: PreparedBatch, seq: int, decode_steps: int) -> tuple[Any, ...]:
        """What a replay of the batch's timed run stands for: its shape (`flop_pass.shape_key`), or for
        speculative cells, whose forward passes depend on the content, the batch itself."""
        if self._speculative:
            return batch_key(batch, seq if self._spec.generation.do_sample else None)
        return shape_key(batch, decode_steps)

    def _replayed_stages(self, batch: PreparedBatch, seq: int, decode_steps: int) -> Stages:
        """The stages of a replay of the batch's timed run (same sampling seed) with the stage hooks,
        the first time its shape comes, reused after (`stages_in_window`). Their generate_overhead_s
        is relative to the replay's own latency."""
        key = self._shape(batch, seq, decode_steps)
        if key not in self._stage_replays:
            torch.manual_seed(self._spec.generation.seed + seq)
            self._stage_replays[key] = self._replay_with_stages(batch)
        return self._stage_replays[key]

    def _bytes(self, batch: PreparedBatch, decode_steps: int) -> dict[str, int] | None:
        """The bytes the batch's generate call must move (`meters.memory_traffic`), None where unknown."""
        if self.traffic is None:
            return None
        rows, length, steps = len(batch.sample_ids), batch.prompt_length, max(decode_steps - 1, 0)
        return {
            "prefill": self.traffic.prefill_bytes(batch_size=rows, prompt_length=length),
            "decode": self.traffic.decode_bytes(batch_size=rows, prompt_length=length, decode_steps=steps),
        }

    def info(self) -> dict[str, Any]:
        """What the passes did, for the cell's info: `flops`, `stages`, `memory_traffic`, `why_no_memory_traffic`."""
        return {
            "flops": self.flops.info() if self.flops is not None else {"not_counted": why_no_flops(self._spec)},
            "stages": {
                "source": "window" if self.stages_in_window else "replay",
                "replays": len(self._stage_replays),
            },
            "memory_traffic": self.traffic.as_dict() if self.traffic is not None else None,
            "why_no_memory_traffic": self.why_no_traffic,
        }
