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
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from vlmperf.backends.local.inputs import PreparedBatch
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


class FlopPass:
    def __init__(self, model: Any, run_generate: Callable[[PreparedBatch], Any]) -> None:
        self._model = model
        self._run_generate = run_generate
        self._counts: dict[tuple[Any, ...], dict[str, Any]] = {}
        self._first: dict[str, Any] | None = None
        self.uncounted_ops: dict[str, int] = {}
        self.errors: list[str] = []
        """Why a counting pass failed (the batch's FLOPs are null), e.g. out of memory on the device."""
        self.seconds = 0.0
        """Wall time spent counting (outside every timed window), for the cell's info."""

    def count(self, batch: PreparedBatch, key: tuple[Any, ...]) -> dict[str, Any] | None:
        """`{"prefill": n, "decode": n}` for the whole batch; None when ops ran that the counter could
        not count (a partial count would understate the work; the cell's info names the ops)."""
        if key not in self._counts:
            started = time.perf_counter()
            try:
                counted = count_generate_flops(self._model, lambda: self._run_generate(batch))
            except Exception as exc:  # the count is optional: the timed runs stand, the figure is null with why
                self.errors.append(f"{type(exc).__name__}: {exc}")
                self._counts[key] = None
                return None
            finally:
                self.seconds += time.perf_counter() - started
            self.uncounted_ops.update(counted.uncounted_ops)
            self._counts[key] = (
                {"prefill": counted.prefill_flops, "decode": counted.decode_flops} if counted.complete else None
            )
            if self._first is None:
                self._first = {
                    "sample_ids": batch.sample_ids,
                    "forward_calls": counted.forward_calls,
                    "by_stage": counted.by_stage,
                    "by_module": counted.by_module,
                    "by_class": counted.by_class,
                    "by_op": counted.by_op,
                }
        return self._counts[key]

    def info(self) -> dict[str, Any]:
        """How many shapes were counted, how long it took, ops that could not be counted, and the
        first counted batch's split by stage, module, layer class and op."""
        return {
            "counted_shapes": len(self._counts),
            "counting_s": self.seconds,
            "uncounted_ops": self.uncounted_ops,
            "errors": self.errors,
            "first_batch": self._first,
        }
