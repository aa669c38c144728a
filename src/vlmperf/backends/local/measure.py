"""Measure one cell on an already loaded model: warm up, then timed runs until both minimums are met.

Each timed run is one batch: preprocess it (timed on its own), reset the memory peak, then one
measured generate call. Batches take the workload's samples in order, wrapping around, so every
batch size sees the same samples in the same order.

A cell's measurement is an object with one measured window per `measure_once()` call, so the
runner can interleave the cells that share a loaded model in random order (DESIGN: measurement
rules) or run them one after the other. Without an energy counter a window is one timed run; with
one, it is as many timed runs, back to back, as fill `measure.min_energy_window_s`, their batches
prepared before the counter is read. `min_duration_s` counts the cell's own timed runs
(preprocessing plus generate), so it means the same in both orders. FLOPs, bytes and (on CUDA)
stages are added to the records after the window has closed (`after_window`), never inside it;
the per-module profile is a pass of its own after the timed runs (`profile`).
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch

from vlmperf.backends.local.after_window import AfterWindow, local_target
from vlmperf.backends.local.cell_warnings import cell_warnings
from vlmperf.backends.local.compile import CompileMonitor, CompileSnapshot
from vlmperf.backends.local.energy_context import CellEnergy, RunWindow
from vlmperf.backends.local.flop_pass import AnalyticCheck
from vlmperf.backends.local.generate import generate_kwargs, generation_config, timed_generate
from vlmperf.backends.local.inputs import PreparedBatch, prepare_batch
from vlmperf.backends.local.loaded import LoadedModel
from vlmperf.backends.local.profile_pass import profile_pass
from vlmperf.backends.local.prompt_budget import within_budget
from vlmperf.backends.local.record import LocalRecord
from vlmperf.config.spec import CellSpec
from vlmperf.meters.clock import clock_for
from vlmperf.meters.device_peaks import device_peaks
from vlmperf.meters.gpu_telemetry import gpu_telemetry
from vlmperf.meters.memory import memory_meter_for
from vlmperf.meters.watches import open_watches
from vlmperf.metrics.caption_list import count_captions
from vlmperf.metrics.stability import stability
from vlmperf.metrics.summary_types import FigureValue
from vlmperf.workloads.sample import Sample
from vlmperf.workloads.system_prompts import system_text
from vlmperf.workloads.tasks import get_task, prompt_hash, workload_prompts

OnRecord = Callable[[int, LocalRecord], None]

WINDOW_MARGIN = 1.25
"""Energy windows are sized from the typical latency with this margin, so they reach their minimum."""


def device_name(device: str) -> str | None:
    """The GPU's name as torch reports it (for its peak FLOP/s), None on CPU."""
    return torch.cuda.get_device_name(torch.device(device)) if device.startswith("cuda") else None


def batches(samples: list[Sample], batch_size: int) -> Iterator[list[Sample]]:
    """Endless batches over the samples in order, wrapping around at the end."""
    position = 0
    while True:
        yield [samples[(position + i) % len(samples)] for i in range(batch_size)]
        position = (position + batch_size) % len(samples)


class CellMeasurement:
    """The warm-up and measured windows of one cell, one window at a time."""

    def __init__(
        self,
        loaded: LoadedModel,
        spec: CellSpec,
        samples: list[Sample],
        on_record: OnRecord,
        energy: CellEnergy,
        flop_check: AnalyticCheck | None = None,
    ) -> None:
        """`flop_check`: the analytic FLOP cross-check shared by the cells of the loaded model
        (`flop_pass.AnalyticCheck`); a cell of its own without one."""
        workload = spec.workload
        self._answers_captions = get_task(workload.task).answers_captions
        self.template, self._prompts = workload_prompts(
            workload.task, workload.prompt, samples, ocr=workload.ocr_tokens, system_prompt=workload.system_prompt
        )
        self._system = system_text(workload.system_prompt)
        self._loaded = loaded
        self._spec = spec
        self._target = target = local_target(spec)
        # samples whose prompt cannot fit max_input_len are left out and named in the info, not cut wrong
        samples, self._over_budget = within_budget(loaded.tokenizer, samples, self._prompts, workload.max_input_len)
        self._samples = samples
        self._on_record = on_record
        self._config = generation_config(loaded, spec.generation)
        self._uncompiled = copy.deepcopy(self._config)
        self._uncompiled.disable_compile = True
        self._extra = generate_kwargs(loaded, target)
        self._clock = clock_for(target.device)
        self._memory = memory_meter_for(target.device)
        self._energy = energy
        self._watches = open_watches(target.device)  # the window watches that apply (`meters.watches`)
        self._after = AfterWindow(loaded.model, spec, self._untimed_generate, self._replay_with_stages, flop_check)
        self._peaks = device_peaks(target, device_name(target.device))
        self._compile = CompileMonitor() if target.compile != "off" else None
        self._timed = batches(samples, spec.scenario.batch_size)
        self._latencies: list[float] = []  # of timed runs: they size the energy windows
        self._warm_latency: float | None = None
        self.compile_costs: dict[str, Any] | None = None
        self.runs = 0
        self.windows = 0
        self.measured_s = 0.0
        self.time_s = {"warm_up": 0.0, "timed": 0.0, "flop_pass": 0.0, "stage_pass": 0.0, "profile": 0.0}
        """Wall time of each of the cell's passes, for the run's time budget (`report.time_budget`)."""

    def _untimed_generate(self, batch: PreparedBatch) -> Any:
        """The timed run's generate call, for the passes that count or profile it, with compilation off
        for that call only: dynamo will not compile under the FLOP counter's dispatch mode, and the
        refusal sticks to the model's forward, so every later timed run would silently run eager.
        The static cache stays, so the work counted is the work timed."""
        return self._loaded.model.generate(**batch.inputs, generation_config=self._uncompiled, **self._extra)

    def _prepare(self, group: list[Sample]) -> tuple[PreparedBatch, float]:
        spec = self._spec
        started = time.perf_counter_ns()
        batch = prepare_batch(
            self._loaded,
            group,
            [self._prompts[s.id] for s in group],
            max_input_len=spec.workload.max_input_len,
            device=self._target.device,
        )
        self._clock.synchronize()  # inputs are on the device before the window opens
        return batch, (time.perf_counter_ns() - started) / 1e9

    def _run_batch(self, batch: PreparedBatch, preprocess_s: float, seq: int) -> LocalRecord:
        """One timed generate call and its record (FLOPs and energy are added after the window)."""
        spec = self._spec
        torch.manual_seed(spec.generation.seed + seq)  # sampling is reproducible per run, in any order
        self._memory.reset()
        compiled = self._compile.snapshot() if self._compile else None
        started_unix = time.time()
        result = timed_generate(
            self._loaded, batch, self._config, self._clock, self._extra, stages=self._after.stages_in_window
        )
        self.measured_s += preprocess_s + result.latency_s
        return {
            "batch_size": spec.scenario.batch_size,
            "started_unix_s": started_unix,
            "sample_ids": batch.sample_ids,
            "latency_s": result.latency_s,
            "ttft_s": result.ttft_s,
            "decode_steps": result.steps,
            "preprocess_s": preprocess_s,
            "stages": result.stages,
            "stages_source": "window" if self._after.stages_in_window else "replay",
            "peak_memory_bytes": self._memory.peak_bytes(),
            "input_tokens": batch.input_tokens,
            "vision_tokens": batch.vision_tokens,
            "truncated_tokens": batch.truncated_tokens,
            "truncated_fields": batch.truncated_fields,
            "output_tokens": result.output_tokens,
            "outputs": result.outputs,
            "captions": [count_captions(o) for o in result.outputs] if self._answers_captions else None,
            "recompiles": self._recompiles(compiled),
            "speculative": result.speculative,
            "peak_flops_per_s": self._peaks.flops_per_s,
            "peak_memory_bandwidth_bytes_per_s": self._peaks.memory_bandwidth_bytes_per_s,
            "energy": None,
            "flops": None,
            "bytes": None,
        }

    def _recompiles(self, compiled: CompileSnapshot | None) -> int | None:
        """Compile events since the snapshot `compiled` (None without torch.compile)."""
        if self._compile is None or compiled is None:
            return None
        return self._compile.since(compiled)["recompiles"]

    def _replay_with_stages(self, batch: PreparedBatch) -> dict[str, float | None] | None:
        """The timed run of `batch` again, with the stage hooks (`after_window.stages_in_window`)."""
        return timed_generate(self._loaded, batch, self._config, self._clock, self._extra, stages=True).stages

    def warm_up(self) -> None:
        """Untimed runs; with torch.compile, what compiling cost is recorded here (compile_s)."""
        started = time.perf_counter()
        warmup = batches(self._samples, self._spec.scenario.batch_size)
        compiled = self._compile.snapshot() if self._compile else None
        for seq in range(self._spec.measure.warmup_runs):
            record = self._run_batch(*self._prepare(next(warmup)), -1 - seq)
            self._warm_latency = record["latency_s"]  # the last one: past first-call and compile costs
        if self._compile and compiled is not None:
            self.compile_costs = self._compile.since(compiled)
        self.measured_s = 0.0
        self.time_s["warm_up"] += time.perf_counter() - started

    def done(self) -> bool:
        measure = self._spec.measure
        covered = not measure.every_sample or self.runs * self._spec.scenario.batch_size >= len(self._samples)
        return self.runs >= measure.max_runs or (
            self.runs >= measure.min_runs and self.measured_s >= measure.min_duration_s and covered
        )

    def _window_size(self) -> int:
        """Timed runs that fill an energy window, from the timed latencies so far (before any: the last
        warm-up run's; 1 without a counter)."""
        if self._energy.source is None:
            return 1
        if self._latencies:
            typical = sorted(self._latencies)[len(self._latencies) // 2]
        elif self._warm_latency is not None:
            typical = self._warm_latency
        else:
            return 1
        return max(1, math.ceil(self._spec.measure.min_energy_window_s / max(typical, 1e-6) * WINDOW_MARGIN))

    def _fill_window(
        self, window: RunWindow, prepared: list[tuple[PreparedBatch, float]], records: list[LocalRecord]
    ) -> int:
        """Runs more batches while the window is shorter than its minimum (the batches prepared before
        it were too few: the latency estimate was high). Their preprocessing is then inside the window;
        the count is recorded as `prepared_inside`."""
        inside = 0
        minimum, cap = self._spec.measure.min_energy_window_s, self._spec.measure.max_runs - self.runs
        while (elapsed := window.elapsed_s()) is not None and elapsed < minimum and len(records) < cap:
            prepared.append(self._prepare(next(self._timed)))
            records.append(self._run_batch(*prepared[-1], self.runs + len(records)))
            inside += 1
        return inside

    def measure_once(self) -> None:
        """One measured window: its timed runs, then (outside it) their FLOP counts, then their records."""
        started, passes = time.perf_counter(), self._after.flop_s + self._after.stage_s
        size = min(self._window_size(), self._spec.measure.max_runs - self.runs)
        prepared = [self._prepare(next(self._timed)) for _ in range(size)]
        self._watches.before()
        window = RunWindow(self._energy)
        window.start()
        try:
            records = [self._run_batch(batch, pre, self.runs + i) for i, (batch, pre) in enumerate(prepared)]
            inside = self._fill_window(window, prepared, records)
        except BaseException:
            window.cancel()
            raise
        reading = window.close(sum(r["latency_s"] for r in records))
        self._watches.after()
        if reading is not None:
            records[-1]["energy"] = {
                **reading,
                "window": self.windows,
                "runs": len(records),
                "samples": sum(r["batch_size"] for r in records),
                "output_tokens": sum(sum(r["output_tokens"]) for r in records),
                "prepared_inside": inside,
            }
        self._latencies += [r["latency_s"] for r in records]
        for (batch, _), record in zip(prepared, records, strict=True):
            self._after.complete(record, batch, self.runs)
            self._on_record(self.runs, record)
            self.runs += 1
        self.windows += 1
        self.time_s["flop_pass"], self.time_s["stage_pass"] = self._after.flop_s, self._after.stage_s
        self.time_s["timed"] += time.perf_counter() - started - (self._after.flop_s + self._after.stage_s - passes)

    def info(self) -> dict[str, Any]:
        """What the cell's figures were measured with (stored beside its summary)."""
        loaded, spec = self._loaded, self._spec
        passes = self._after.info()
        return {
            "model": loaded.info,
            "warnings": cell_warnings(loaded, spec, self._target, self._over_budget),
            "clock": self._clock.source,
            "memory_source": self._memory.source,
            "generation_config": {k: v for k, v in self._config.to_diff_dict().items() if k != "transformers_version"},
            "prompt_template": self.template,
            "prompt_hash": prompt_hash(self.template, self._system),
            "system_prompt": self._system,
            "samples": len(self._samples),
            "over_budget": self._over_budget,
            "timed_runs": self.runs,
            "windows": self.windows,
            "measured_s": self.measured_s,
            "energy": self._energy.info(),
            "flops": passes["flops"],
            "stages": passes["stages"],
            "peak_flops_per_s": self._peaks.flops_per_s,
            "limits": {
                **self._peaks.as_dict(),
                "memory_traffic": passes["memory_traffic"],
                "why_no_memory_traffic": passes["why_no_memory_traffic"],
            },
            "compile": self.compile_costs,
            "device_name": device_name(self._target.device),
            "gpu_telemetry": gpu_telemetry(self._target.device),
            "threads": torch.get_num_threads(),
            "stability": self.stability(),
        }

    def stability(self) -> dict[str, Any]:
        """How far the cell's figures can be trusted (`metrics.stability`), from its timed latencies and
        what the window watches saw at the edges of its windows."""
        self._watches.close()
        return stability("latency_s", self._latencies, self._watches.readings())

    def profile(self, trace_path: Path) -> dict[str, Any]:
        """The per-module profile of the cell's first batch, and its torch.profiler trace: passes of
        their own, after the timed runs, on the same generate call."""
        started = time.perf_counter()
        try:
            return self._profile(trace_path)
        finally:
            self.time_s["profile"] += time.perf_counter() - started

    def _profile(self, trace_path: Path) -> dict[str, Any]:
        batch, _ = self._prepare(next(batches(self._samples, self._spec.scenario.batch_size)))
        return profile_pass(
            self._loaded.model,
            batch,
            self._untimed_generate,
            self._clock,
            self._target.device,
            self._spec.generation.seed,
            trace_path,
        )

    def figures(self) -> dict[str, FigureValue]:
        """Figures of the cell as a whole, beside the summaries of its records."""
        if self.compile_costs is None:
            return {}
        return {"compile_s": {"value": self.compile_costs["compile_s"]}}
