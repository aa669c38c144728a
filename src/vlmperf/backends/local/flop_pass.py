"""FLOP counts of a cell's batches, each distinct shape counted once, in a pass of its own.

A counting pass is as slow as a generate call (slower: the counter sees every op), and a generate
call's FLOPs depend on shapes, not on which samples fill them: every input tensor's shape, each
row's real length (its image tokens included, as the processor expanded them), and how many decode
steps ran (`shape_key`). So the first timed run of each shape is replayed once under the counter
(same inputs, same sampling seed, so the count matches what was timed), and every later run of that
shape reuses the count. (Counting once per distinct batch of sample ids cost a llava-1.5-7b cell
five to ten passes of ~6 s each on an H200, most of its wall time.) Speculative decoding is the
exception: how many drafted tokens the model accepts, and so how many forward passes it makes,
depends on the content, so there each distinct batch (samples and sampling seed) is counted.

Where the architecture has an analytic count (`meters.analytic_flops`: LLaVA-1.5 and Llama-style
decoders), the counter runs once per loaded model, on the first shape any of its cells counts, as
a cross-check (`AnalyticCheck`): when both counts agree exactly, every later shape of every cell
on that model takes the analytic count (no pass at all); when they differ (a static cache attends
over its whole length, a quantised kernel, an architecture variant the formula does not know), the
disagreement is recorded and the counter goes on counting every shape: the counted figure wins.
Each batch's figure says which it is (`source`). Once per loaded model, not per cell, because
everything the formula's validity depends on (architecture, attention implementation, cache and
compile settings, quantisation) is the loaded model's; what differs between its cells (batch
size, prompt and output lengths, images) are the formula's inputs. A counting pass costs about
1.4 generate calls, and a default cell makes 5 timed runs: one per cell was 16% of a sweep's wall
time on a llava-1.5-7b replica (`benchmarks/time_budget.py`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from vlmperf.backends.local.inputs import PreparedBatch
from vlmperf.errors import InputError
from vlmperf.meters.analytic_flops import AnalyticFlops, analytic_generate_flops
from vlmperf.meters.flops import count_generate_flops


def batch_key(batch: PreparedBatch, seed: int | None) -> tuple[Any, ...]:
    """One distinct batch: its samples, and its sampling seed when it samples (speculative cells)."""
    return tuple(batch.sample_ids), seed


def shape_key(batch: PreparedBatch, decode_steps: int | None) -> tuple[Any, ...]:
    """What the FLOPs of a generate call over `batch` depend on (see the module docstring)."""
    shapes = tuple(
        sorted((name, tuple(value.shape)) for name, value in batch.inputs.items() if hasattr(value, "shape"))
    )
    return shapes, tuple(batch.input_tokens), tuple(batch.vision_tokens), decode_steps


def analytic_count(config: Any, batch: PreparedBatch, decode_steps: int) -> AnalyticFlops:
    """The analytic count of a generate call over `batch` that generated `decode_steps` tokens per
    row (so made decode_steps - 1 forward calls after the prompt pass)."""
    pixels = batch.inputs.get("pixel_values")
    return analytic_generate_flops(
        config,
        batch_size=len(batch.sample_ids),
        prompt_length=batch.prompt_length,
        decode_steps=max(decode_steps - 1, 0),
        images=0 if pixels is None else int(pixels.shape[0]),
    )


class AnalyticCheck:
    """The cross-check of the analytic count against the counter, shared by the cells of one loaded model."""

    def __init__(self) -> None:
        self.status = "unchecked"
        """unchecked -> agrees | disagrees; unavailable (no formula, with why)."""
        self.info: dict[str, Any] = {}

    def analytic(self, config: Any, batch: PreparedBatch, decode_steps: int) -> AnalyticFlops | None:
        """The analytic count while it may still be used (unchecked or agreeing), else None."""
        if self.status not in ("unchecked", "agrees"):
            return None
        try:
            return analytic_count(config, batch, decode_steps)
        except InputError as exc:  # no formula for this architecture: every shape is counted
            self.status = "unavailable"
            self.info["why"] = str(exc)
            return None

    def record(self, batch: PreparedBatch, counted: dict[str, Any] | None, analytic: AnalyticFlops) -> None:
        """The cross-check's outcome: both counts of the same generate call."""
        expected = {"prefill": analytic.prefill_flops, "decode": analytic.decode_flops}
        agrees = counted is not None and all(counted[p] == expected[p] for p in expected)
        self.status = "agrees" if agrees else "disagrees"
        self.info["cross_check"] = {"sample_ids": batch.sample_ids, "counted": counted, "analytic": expected}

    def as_dict(self) -> dict[str, Any]:
        return {"status": self.status, **self.info}


class FlopPass:
    """`check`: the loaded model's analytic cross-check, None where the analytic count may not be used
    (speculative cells, whose forward passes depend on the content)."""

    def __init__(self, model: Any, run_generate: Callable[[PreparedBatch], Any], check: AnalyticCheck | None) -> None:
        self._model = model
        self._run_generate = run_generate
        self._counts: dict[tuple[Any, ...], dict[str, Any] | None] = {}
        self._first: dict[str, Any] | None = None
        self._check = check
        self.counted_shapes = 0
        self.analytic_shapes = 0
        self.uncounted_ops: dict[str, int] = {}
        self.errors: list[str] = []
        """Why a counting pass failed (the batch's FLOPs are null), e.g. out of memory on the device."""
        self.seconds = 0.0
        """Wall time spent counting (outside every timed window), for the cell's info."""

    def count(self, batch: PreparedBatch, key: tuple[Any, ...], decode_steps: int) -> dict[str, Any] | None:
        """`{"prefill": n, "decode": n, "source": "counted" | "analytic"}` for the whole batch; None when
        ops ran that the counter could not count (a partial count would understate the work; the
        cell's info names the ops). `decode_steps`: tokens the timed run generated per row."""
        if key in self._counts:
            return self._counts[key]
        check = self._check
        analytic = check.analytic(self._model.config, batch, decode_steps) if check is not None else None
        if check is not None and analytic is not None and check.status == "agrees":
            self.analytic_shapes += 1
            if self._first is None:  # the split by stage, from the formula (by module / class / op need the counter)
                self._first = {"sample_ids": batch.sample_ids, "source": "analytic", "by_stage": analytic.by_stage}
            figures = {"prefill": analytic.prefill_flops, "decode": analytic.decode_flops}
            self._counts[key] = {**figures, "source": "analytic"}
            return self._counts[key]
        counted = self._counter(batch)
        if check is not None and analytic is not None:  # the loaded model's first count: the cross-check
            check.record(batch, counted, analytic)
        self._counts[key] = counted
        return counted

    def _counter(self, batch: PreparedBatch) -> dict[str, Any] | None:
        started = time.perf_counter()
        self.counted_shapes += 1
        try:
            counted = count_generate_flops(self._model, lambda: self._run_generate(batch))
        except Exception as exc:  # the count is optional: the timed runs stand, the figure is null with why
            self.errors.append(f"{type(exc).__name__}: {exc}")
            return None
        finally:
            self.seconds += time.perf_counter() - started
        self.uncounted_ops.update(counted.uncounted_ops)
        if self._first is None:
            self._first = {
                "sample_ids": batch.sample_ids,
                "source": "counted",
                "forward_calls": counted.forward_calls,
                "by_stage": counted.by_stage,
                "by_module": counted.by_module,
                "by_class": counted.by_class,
                "by_op": counted.by_op,
            }
        if not counted.complete:
            return None
        return {"prefill": counted.prefill_flops, "decode": counted.decode_flops, "source": "counted"}

    def info(self) -> dict[str, Any]:
        """How many shapes were counted and how many took the analytic count, the cross-check, how long
        counting took, ops that could not be counted, and the first counted batch's split by stage,
        module, layer class and op."""
        return {
            "counted_shapes": self.counted_shapes,
            "analytic_shapes": self.analytic_shapes,
            "analytic": self._check.as_dict() if self._check is not None else {"status": "off"},
            "counting_s": self.seconds,
            "uncounted_ops": self.uncounted_ops,
            "errors": self.errors,
            "first_batch": self._first,
        }
