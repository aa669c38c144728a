"""The `--diagnose` conditions of `harness_overhead.py`: each piece of `timed_generate` added to the bare loop alone.

On an H200 the tiny model's reported / bare read 1.05 (issue 15), and the whole `timed_generate`
against bare cannot say which piece costs what. Each condition here is the bare loop plus one
piece, timed the same way and drawn in the same random order as the others, so its paired ratio
against bare is that piece's cost; `components` times each piece's host cost outside generate.
They live apart from the measuring of the two main conditions (`harness_overhead.Bench`, which
loads what they use and inherits them, so the run calls every condition alike).
"""

from __future__ import annotations

import statistics
import time
from typing import Any

PIECES = {
    "bare_marker": "bare + first-token marker (stopping criterion)",
    "bare_stages": "bare + StageTimer hooks",
    "bare_marks_sync": "bare + window clock marks + sync",
}
"""The --diagnose conditions: each adds one piece of timed_generate to the bare loop."""


class Pieces:
    """The --diagnose conditions and host costs, as methods of `harness_overhead.Bench`."""

    loaded: Any
    config: Any
    clock: Any
    memory: Any
    generation: Any
    batches: dict[int, Any]
    FirstTokenMarker: Any
    StoppingCriteriaList: Any
    StageTimer: Any

    # Each condition returns its timings in seconds.

    def bare_marker(self, batch_size: int) -> dict[str, float]:
        """Bare + the first-token marker as timed_generate passes it (a stopping criterion that never stops)."""
        batch = self.batches[batch_size]
        model, config, sync = self.loaded.model, self.config, self.clock.synchronize
        criteria = self.StoppingCriteriaList([self.FirstTokenMarker(self.clock)])
        t0 = time.perf_counter_ns()
        model.generate(**batch.inputs, generation_config=config, stopping_criteria=criteria)
        sync()
        t1 = time.perf_counter_ns()
        return {"wall": (t1 - t0) / 1e9}

    def bare_stages(self, batch_size: int) -> dict[str, float]:
        """Bare inside the stage hooks (installed and removed inside the timed span, as around
        timed_generate's window)."""
        batch = self.batches[batch_size]
        model, config, sync = self.loaded.model, self.config, self.clock.synchronize
        # module lookup only, hooks go in at `with`; wrapped for torch.compile only when it compiles,
        # as in timed_generate
        timer = self.StageTimer(model, self.clock, compiled=self.loaded.compile_config is not None)
        t0 = time.perf_counter_ns()
        with timer:
            model.generate(**batch.inputs, generation_config=config)
        sync()
        t1 = time.perf_counter_ns()
        timer.seconds()  # read after the sync, as timed_generate does, outside the timed span
        return {"wall": (t1 - t0) / 1e9}

    def bare_marks_sync(self, batch_size: int) -> dict[str, float]:
        """Bare + the window's two clock marks and the synchronisation after the end mark."""
        batch = self.batches[batch_size]
        model, config, clock = self.loaded.model, self.config, self.clock
        t0 = time.perf_counter_ns()
        start = clock.mark()
        model.generate(**batch.inputs, generation_config=config)
        end = clock.mark()
        clock.synchronize()
        t1 = time.perf_counter_ns()
        clock.elapsed_s(start, end)
        return {"wall": (t1 - t0) / 1e9}

    def components(self, batch_size: int, repeats: int = 200) -> dict[str, float]:
        """Host cost per call, in microseconds, of each piece the vlmperf condition adds around generate,
        timed outside generate (on GPU: the time to enqueue, not what the device spends)."""
        from vlmperf.backends.local.generate import count_output_tokens, eos_ids

        batch = self.batches[batch_size]
        sequences = self.loaded.model.generate(**batch.inputs, generation_config=self.config)
        input_ids = batch.inputs["input_ids"]

        def per_call_us(fn, n: int = repeats) -> float:
            fn()
            times = []
            for _ in range(n):
                t0 = time.perf_counter_ns()
                fn()
                times.append(time.perf_counter_ns() - t0)
            return statistics.median(times) / 1e3

        def marker_run() -> None:  # what one generate call costs the marker: one call per step
            marker = self.FirstTokenMarker(self.clock)
            for _ in range(self.generation.max_new_tokens):
                marker(input_ids, None)

        def hooks_in_and_out() -> None:  # the stage hooks' install and removal, no forward call
            with self.StageTimer(self.loaded.model, self.clock, compiled=self.loaded.compile_config is not None):
                pass

        def after_window() -> None:  # timed_generate's work after its end mark
            self.clock.synchronize()
            generated = sequences[:, batch.prompt_length :].cpu()
            counts = count_output_tokens(generated, eos_ids(self.config))
            [
                self.loaded.tokenizer.decode(row[:n], skip_special_tokens=True).strip()
                for row, n in zip(generated, counts, strict=True)
            ]

        return {
            "clock_mark_us": per_call_us(self.clock.mark),
            "marker_all_calls_per_call_us": per_call_us(marker_run),
            "stage_hooks_install_remove_us": per_call_us(hooks_in_and_out),
            "after_window_sync_count_decode_us": per_call_us(after_window),
            "memory_reset_us": per_call_us(self.memory.reset),
            "memory_peak_read_us": per_call_us(self.memory.peak_bytes),
        }
