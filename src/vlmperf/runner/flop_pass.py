"""FLOP counts of a cell's batches, each distinct batch counted once, in a pass of its own.

The timed runs cycle through the same batches, and a counting pass is as slow as a generate call
(slower: the counter sees every op), so each distinct batch (its samples, and its sampling seed when
sampling) is counted once, after its first timed run, and the count is reused for its later runs.
The pass runs the same generate call as the timed run, so the count matches what was timed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from vlmperf.backends.local.inputs import PreparedBatch
from vlmperf.meters.flops import count_generate_flops


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
        """How many batches were counted, how long it took, ops that could not be counted, and the
        first counted batch's split by stage, module, layer class and op."""
        return {
            "counted_batches": len(self._counts),
            "counting_s": self.seconds,
            "uncounted_ops": self.uncounted_ops,
            "errors": self.errors,
            "first_batch": self._first,
        }
