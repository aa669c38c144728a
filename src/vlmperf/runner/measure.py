"""Measure one cell on an already loaded model: warm up, then timed runs until both minimums are met.

Each timed run is one batch: preprocess it (timed on its own), reset the memory peak, then one
measured generate call. Batches take the workload's samples in order, wrapping around, so every
batch size sees the same samples in the same order.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import torch

from vlmperf.backends.local.generate import generation_config, timed_generate
from vlmperf.backends.local.inputs import prepare_batch
from vlmperf.backends.local.loading import LoadedModel
from vlmperf.config.spec import CellSpec
from vlmperf.meters.clock import clock_for
from vlmperf.meters.memory import memory_meter_for
from vlmperf.workloads.sample import Sample
from vlmperf.workloads.tasks import get_task, prompt_hash

OnRecord = Callable[[int, dict[str, Any]], None]


def batches(samples: list[Sample], batch_size: int) -> Iterator[list[Sample]]:
    """Endless batches over the samples in order, wrapping around at the end."""
    position = 0
    while True:
        yield [samples[(position + i) % len(samples)] for i in range(batch_size)]
        position = (position + batch_size) % len(samples)


def measure_cell(loaded: LoadedModel, spec: CellSpec, samples: list[Sample], on_record: OnRecord) -> dict[str, Any]:
    """Run the cell's warm-up and timed runs, handing each timed record to `on_record`; returns cell info."""
    task = get_task(spec.workload.task)
    template = spec.workload.prompt if spec.workload.prompt is not None else task.default_prompt
    prompts = {sample.id: task.prompt_for(sample, template) for sample in samples}
    device = spec.target.device
    config = generation_config(loaded, spec.generation)
    clock = clock_for(device)
    memory = memory_meter_for(device)
    batch_size = spec.scenario.batch_size
    measure = spec.measure

    def run_batch(group: list[Sample]) -> dict[str, Any]:
        started = time.perf_counter_ns()
        batch = prepare_batch(
            loaded, group, [prompts[s.id] for s in group], max_input_len=spec.workload.max_input_len, device=device
        )
        clock.synchronize()  # inputs are on the device before the window opens
        preprocess_s = (time.perf_counter_ns() - started) / 1e9
        memory.reset()
        result = timed_generate(loaded, batch, config, clock)
        return {
            "batch_size": batch_size,
            "sample_ids": batch.sample_ids,
            "latency_s": result.latency_s,
            "ttft_s": result.ttft_s,
            "decode_steps": result.steps,
            "preprocess_s": preprocess_s,
            "peak_memory_bytes": memory.peak_bytes(),
            "input_tokens": batch.input_tokens,
            "vision_tokens": batch.vision_tokens,
            "truncated_tokens": batch.truncated_tokens,
            "output_tokens": result.output_tokens,
            "outputs": result.outputs,
        }

    torch.manual_seed(spec.generation.seed)
    warmup = batches(samples, batch_size)
    for _ in range(measure.warmup_runs):
        run_batch(next(warmup))

    timed = batches(samples, batch_size)
    started = time.perf_counter()
    seq = 0
    while seq < measure.max_runs and (seq < measure.min_runs or time.perf_counter() - started < measure.min_duration_s):
        on_record(seq, run_batch(next(timed)))
        seq += 1
    warnings = []
    if loaded.info.get("weights", "").startswith("random") and spec.generation.mode == "natural":
        warnings.append(
            "random weights with generation.mode natural: output lengths (and so latency) depend on when a random "
            "model happens to emit EOS; use generation.mode fixed for speed work"
        )
    return {
        "model": loaded.info,
        "warnings": warnings,
        "clock": clock.source,
        "memory_source": memory.source,
        "generation_config": {k: v for k, v in config.to_diff_dict().items() if k != "transformers_version"},
        "prompt_template": template,
        "prompt_hash": prompt_hash(template),
        "samples": len(samples),
        "timed_runs": seq,
        "measure_wall_s": time.perf_counter() - started,
    }
