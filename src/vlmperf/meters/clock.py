"""Timestamps for measured windows, synchronised with the device at window edges only.

On CPU a mark is `perf_counter_ns`. On CUDA a mark is an event recorded on the current stream:
recording costs no synchronisation, and the elapsed time between two events is the device's own
measurement, read once after the window has ended.
"""

from __future__ import annotations

import time
from typing import Any, Protocol


class Clock(Protocol):
    """What a measured window needs: cheap marks, one synchronisation, elapsed seconds."""

    source: str

    def mark(self) -> Any: ...

    def synchronize(self) -> None: ...

    def elapsed_s(self, start: Any, end: Any) -> float: ...


class WallClock:
    """The host's monotonic high-resolution clock."""

    source = "perf_counter_ns"

    def mark(self) -> int:
        return time.perf_counter_ns()

    def synchronize(self) -> None:
        """Nothing runs asynchronously on the host."""

    def elapsed_s(self, start: int, end: int) -> float:
        return (end - start) / 1e9


class CudaEventClock:
    """CUDA events on the current stream of one device."""

    source = "cuda_event"

    def __init__(self, device: str) -> None:
        import torch

        self._torch = torch
        self._device = torch.device(device)

    def mark(self) -> Any:
        event = self._torch.cuda.Event(enable_timing=True)
        event.record(self._torch.cuda.current_stream(self._device))
        return event

    def synchronize(self) -> None:
        self._torch.cuda.synchronize(self._device)

    def elapsed_s(self, start: Any, end: Any) -> float:
        return start.elapsed_time(end) / 1e3


def clock_for(device: str) -> Clock:
    """The right clock for a torch device string."""
    return CudaEventClock(device) if device.startswith("cuda") else WallClock()


def wall_clock_anchor(tries: int = 5) -> tuple[int, int]:
    """(perf_counter_ns, time_ns) read back to back: the pair with the shortest gap of `tries`.

    Monotonic stamps taken after it convert to the wall clock as `unix = anchor_unix + (stamp -
    anchor_perf)`: one conversion for a whole window, so the wall-clock times of its events are as
    exact relative to each other as the monotonic ones, and no event pays for a second clock read.
    """
    best: tuple[int, int, int] | None = None
    for _ in range(tries):
        before = time.perf_counter_ns()
        unix = time.time_ns()
        after = time.perf_counter_ns()
        if best is None or after - before < best[0]:
            best = (after - before, (before + after) // 2, unix)
    assert best is not None
    return best[1], best[2]
