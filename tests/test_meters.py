"""Meters: window edges only, CUDA clock arithmetic (with a stand-in CUDA module), per-window RSS peaks."""

from __future__ import annotations

import sys
from types import SimpleNamespace

import pytest

from vlmperf.backends.local.generate import generation_config, timed_generate
from vlmperf.backends.local.inputs import prepare_batch
from vlmperf.backends.local.loading import load_model
from vlmperf.backends.local.target import LocalTarget
from vlmperf.config.spec import Generation, Workload
from vlmperf.meters.clock import CudaEventClock, WallClock, clock_for
from vlmperf.meters.memory import ProcessPeakRss, memory_meter_for
from vlmperf.workloads.sources import load_samples


class CountingClock(WallClock):
    def __init__(self) -> None:
        self.marks = 0
        self.syncs = 0

    def mark(self) -> int:
        self.marks += 1
        return super().mark()

    def synchronize(self) -> None:
        self.syncs += 1


def test_a_window_marks_start_first_token_end_and_synchronises_once(tmp_path, monkeypatch):
    monkeypatch.setenv("VLMPERF_CACHE", str(tmp_path))
    loaded = load_model(LocalTarget())
    samples = load_samples(Workload(limit=2))
    batch = prepare_batch(loaded, samples, ["Describe the image."] * 2, max_input_len=None, device="cpu")
    clock = CountingClock()
    result = timed_generate(loaded, batch, generation_config(loaded, Generation(max_new_tokens=9, mode="fixed")), clock)
    assert result.steps == 9
    # start, first token, end; and the stage timer's marks: before and after each of the 9 forward
    # calls, the vision tower's and the projector's (marks only: a CUDA event each, never a wait)
    assert clock.marks == 3 + 2 * (9 + 1 + 1)
    assert clock.syncs == 1, "one synchronisation, after the window's end mark: nothing per decoding step"


class FakeEvent:
    recorded: list[FakeEvent] = []

    def __init__(self, enable_timing: bool) -> None:
        assert enable_timing
        self.time_ms: float | None = None

    def record(self, stream) -> None:
        self.stream = stream
        self.time_ms = 1000.0 * len(FakeEvent.recorded)
        FakeEvent.recorded.append(self)

    def elapsed_time(self, end: FakeEvent) -> float:
        return end.time_ms - self.time_ms


def test_cuda_clock_records_events_on_the_current_stream_and_reports_seconds(monkeypatch):
    synced = []
    fake_cuda = SimpleNamespace(
        Event=FakeEvent,
        current_stream=lambda device: f"stream-of-{device}",
        synchronize=lambda device: synced.append(device),
    )
    fake_torch = SimpleNamespace(cuda=fake_cuda, device=lambda name: name)
    monkeypatch.setitem(sys.modules, "torch", fake_torch)
    FakeEvent.recorded = []
    clock = CudaEventClock("cuda:1")
    start, end = clock.mark(), clock.mark()
    clock.synchronize()
    assert start.stream == "stream-of-cuda:1"
    assert clock.elapsed_s(start, end) == pytest.approx(1.0), "CUDA reports milliseconds; vlmperf seconds"
    assert synced == ["cuda:1"]
    assert clock.source == "cuda_event"


def test_clock_and_memory_meter_follow_the_device():
    assert isinstance(clock_for("cpu"), WallClock)
    assert isinstance(memory_meter_for("cpu"), ProcessPeakRss)


def test_rss_peak_is_reset_per_window():
    meter = ProcessPeakRss()
    if meter.source != "rss_peak_window":
        pytest.skip("this kernel does not let a process reset its peak RSS")
    meter.reset()
    block = bytearray(300 * 2**20)
    block[::4096] = b"x" * len(block[::4096])  # touch every page
    high = meter.peak_bytes()
    del block
    meter.reset()
    low = meter.peak_bytes()
    assert high - low > 250 * 2**20
