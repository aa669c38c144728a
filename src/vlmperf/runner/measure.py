"""Measure one cell on an already loaded model: warm up, then timed runs until both minimums are met.

Each timed run is one batch: preprocess it (timed on its own), reset the memory peak, then one
measured generate call. Batches take the workload's samples in order, wrapping around, so every
batch size sees the same samples in the same order.

A cell's measurement is an object with one timed run per `measure_once()` call, so the runner can
interleave the cells that share a loaded model in random order (DESIGN: measurement rules) or run
them one after the other. `min_duration_s` counts the cell's own timed runs (preprocessing plus
generate), so it means the same in both orders.
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
from vlmperf.metrics.caption_list import count_captions
from vlmperf.workloads.sample import Sample
from vlmperf.workloads.tasks import get_task, prompt_hash, workload_prompts

OnRecord = Callable[[int, dict[str, Any]], None]


def batches(samples: list[Sample], batch_size: int) -> Iterator[list[Sample]]:
    """Endless batches over the samples in order, wrapping around at the end."""
    position = 0
    while True:
        yield [samples[(position + i) % len(samples)] for i in range(batch_size)]
        position = (position + batch_size) % len(samples)


class CellMeasurement:
    """The warm-up and timed runs of one cell, one run at a time."""

    def __init__(self, loaded: LoadedModel, spec: CellSpec, samples: list[Sample], on_record: OnRecord) -> None:
        workload = spec.workload
        self._answers_captions = get_task(workload.task).answers_captions
        self.template, self._prompts = workload_prompts(workload.task, workload.prompt, samples, ocr=workload.ocr_tokens)
        self._loaded = loaded
        self._spec = spec
        self._samples = samples
        self._on_record = on_record
        self._config = generation_config(loaded, spec.generation)
        self._clock = clock_for(spec.target.device)
        self._memory = memory_meter_for(spec.target.device)
        self._timed = batches(samples, spec.scenario.batch_size)
        self.runs = 0
        self.measured_s = 0.0

    def _run_batch(self, group: list[Sample], seq: int) -> dict[str, Any]:
        spec = self._spec
        torch.manual_seed(spec.generation.seed + seq)  # sampling is reproducible per run, in any order
        started = time.perf_counter_ns()
        batch = prepare_batch(
            self._loaded,
            group,
            [self._prompts[s.id] for s in group],
            max_input_len=spec.workload.max_input_len,
            device=spec.target.device,
        )
        self._clock.synchronize()  # inputs are on the device before the window opens
        preprocess_s = (time.perf_counter_ns() - started) / 1e9
        self._memory.reset()
        started_unix = time.time()
        result = timed_generate(self._loaded, batch, self._config, self._clock)
        self.measured_s += preprocess_s + result.latency_s
        return {
            "batch_size": spec.scenario.batch_size,
            "started_unix_s": started_unix,
            "sample_ids": batch.sample_ids,
            "latency_s": result.latency_s,
            "ttft_s": result.ttft_s,
            "decode_steps": result.steps,
            "preprocess_s": preprocess_s,
            "peak_memory_bytes": self._memory.peak_bytes(),
            "input_tokens": batch.input_tokens,
            "vision_tokens": batch.vision_tokens,
            "truncated_tokens": batch.truncated_tokens,
            "output_tokens": result.output_tokens,
            "outputs": result.outputs,
            "captions": [count_captions(o) for o in result.outputs] if self._answers_captions else None,
        }

    def warm_up(self) -> None:
        warmup = batches(self._samples, self._spec.scenario.batch_size)
        for seq in range(self._spec.measure.warmup_runs):
            self._run_batch(next(warmup), -1 - seq)
        self.measured_s = 0.0

    def done(self) -> bool:
        measure = self._spec.measure
        covered = not measure.every_sample or self.runs * self._spec.scenario.batch_size >= len(self._samples)
        return self.runs >= measure.max_runs or (
            self.runs >= measure.min_runs and self.measured_s >= measure.min_duration_s and covered
        )

    def measure_once(self) -> None:
        self._on_record(self.runs, self._run_batch(next(self._timed), self.runs))
        self.runs += 1

    def info(self) -> dict[str, Any]:
        """What the cell's figures were measured with (stored beside its summary)."""
        loaded, spec = self._loaded, self._spec
        warnings = []
        if loaded.info.get("weights", "").startswith("random") and spec.generation.mode == "natural":
            warnings.append(
                "random weights with generation.mode natural: output lengths (and so latency) depend on when a "
                "random model happens to emit EOS; use generation.mode fixed for speed work"
            )
        return {
            "model": loaded.info,
            "warnings": warnings,
            "clock": self._clock.source,
            "memory_source": self._memory.source,
            "generation_config": {k: v for k, v in self._config.to_diff_dict().items() if k != "transformers_version"},
            "prompt_template": self.template,
            "prompt_hash": prompt_hash(self.template),
            "samples": len(self._samples),
            "timed_runs": self.runs,
            "measured_s": self.measured_s,
        }
