"""Nothing of vlmperf's own runs on the event loop that stamps endpoint requests.

The store and the progress display are instrumented: every store call and every redraw notes the
thread it ran on and whether that thread was running an asyncio loop. An endpoint run against the
scripted server must make none of them on the loop, while records are still stored as the load
runs (by the writer thread) and the display still moves (by its ticker), at most at its rate.
"""

from __future__ import annotations

import asyncio
import io
import threading
import time
from pathlib import Path

import pytest
from rich.console import Console

import vlmperf.api as vp
from vlmperf.backends.endpoint.load.driver import Driver
from vlmperf.backends.endpoint.record_writer import RecordWriter
from vlmperf.cli.progress import ProgressEvents
from vlmperf.runner.plan import Cell
from vlmperf.store.sqlite import Store

from fixtures import scripted_server as ss

STORE_CALLS = (
    "start_cell",
    "add_records",
    "finish_cell",
    "fail_cell",
    "add_to_summary",
    "set_run_status",
    "update_manifest",
)


class Calls:
    """Where each instrumented call ran: (name, thread name, on a running loop, during the load)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, bool, bool]] = []
        self.load_running = False

    def note(self, name: str) -> None:
        on_loop = asyncio._get_running_loop() is not None
        self.calls.append((name, threading.current_thread().name, on_loop, self.load_running))


@pytest.fixture
def instrumented(monkeypatch) -> Calls:
    calls = Calls()
    for name in STORE_CALLS:
        original = getattr(Store, name)

        def wrapper(self, *args, _original=original, _name=name, **kwargs):
            calls.note(f"store.{_name}")
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(Store, name, wrapper)
    original_draw = ProgressEvents._draw

    def draw(self, description=None):
        calls.note("draw")
        return original_draw(self, description)

    monkeypatch.setattr(ProgressEvents, "_draw", draw)
    original_run = Driver.run

    async def run(self, session):
        calls.load_running = True
        try:
            return await original_run(self, session)
        finally:
            calls.load_running = False

    monkeypatch.setattr(Driver, "run", run)
    return calls


def _config(tmp_path: Path, base_url: str) -> Path:
    path = tmp_path / "endpoint.yaml"
    path.write_text(
        f"target: {{kind: endpoint, preset: vllm, base_url: '{base_url}', model: tiny}}\n"
        "workload: {task: vqa, limit: 3}\n"
        "scenario: {kind: rate, rate: 50}\n"
        "measure: {warmup_runs: 1, min_runs: 40, max_runs: 40}\n"
    )
    return path


@pytest.mark.slow
def test_no_store_write_and_no_redraw_happens_on_the_loop(instrumented, tmp_path):
    events = ProgressEvents(Console(file=io.StringIO(), force_terminal=True, width=100), refresh_hz=10)
    out = tmp_path / "results"
    with ss.ScriptedServer([ss.stream_reply(["a", "b"], 0.001)]) as server:
        started = time.monotonic()
        outcome = vp.run(_config(tmp_path, server.base_url), out=out, events=events)
        elapsed_s = time.monotonic() - started
    assert outcome.failed == 0
    assert not [c for c in instrumented.calls if c[2]], "a store call or a redraw ran on the event loop"
    during = [c for c in instrumented.calls if c[3]]
    stored = [c for c in during if c[0] == "store.add_records"]
    assert len(stored) >= 3, "records are stored while the load runs (0.8 s at 50/s), batch by batch"
    assert {c[1] for c in stored} == {"vlmperf-record-writer"}
    assert {c[0] for c in during} <= {"store.add_records", "draw"}, "nothing else touches the store during the load"
    draws = [c for c in during if c[0] == "draw"]
    assert draws and {c[1] for c in draws} == {"vlmperf-progress"}
    assert len([c for c in instrumented.calls if c[0] == "draw"]) <= elapsed_s * 10 + 10
    records = vp.records_frame(outcome.run_id, out=out)
    assert sorted(records["seq"]) == list(range(40)), "every record was stored, once"


def _cell(cell_id: str = "c0") -> Cell:
    return Cell(cell_id, None, {})  # the writer and the display read only its id and swept settings


def test_the_display_draws_at_most_at_its_rate_however_fast_records_come():
    events = ProgressEvents(Console(file=io.StringIO(), force_terminal=True, width=100), refresh_hz=20)
    events.run_started("run", total=1, skipped=0)
    cell = _cell()
    events.cell_started(cell)
    events.step_started(None, "drive")
    before = events.draws
    started = time.monotonic()
    seq = 0
    while time.monotonic() - started < 0.5:  # tens of thousands of records a second, from a writer-like thread
        events.record_measured(cell, seq)
        seq += 1
    ticked = events.draws - before
    events.cell_finished(cell, "ok", None)
    elapsed_s = time.monotonic() - started
    assert seq > 1000 and 3 <= ticked <= elapsed_s * 20 + 1
    # between local timed windows (no ticker), a noted run is drawn only when the last draw is old enough
    before, started = events.draws, time.monotonic()
    for seq in range(20_000):
        events.record_measured(cell, seq)
    assert events.draws - before <= (time.monotonic() - started) * 20 + 1
    events.run_finished("run", "complete")


def test_the_writer_stores_in_batches_and_whatever_is_queued_on_close():
    class Sink:
        path = Path("unused")

        def __init__(self) -> None:
            self.batches: list[tuple[str, list[int]]] = []

        def add_records(self, run_id, cell_id, records):
            self.batches.append((cell_id, [seq for seq, _ in records]))

    class Events:
        def __init__(self) -> None:
            self.measured: list[tuple[str, int]] = []

        def record_measured(self, cell, seq):
            self.measured.append((cell.id, seq))

    sink, events = Sink(), Events()
    a, b = _cell("a"), _cell("b")
    with RecordWriter(sink, "run", events, interval_s=0.05) as writer:
        for seq in range(5):
            writer.add(a, seq, {})
            writer.add(b, seq, {})
        time.sleep(0.2)
        for seq in range(5, 8):
            writer.add(a, seq, {})
    assert [seq for cell_id, seqs in sink.batches if cell_id == "a" for seq in seqs] == list(range(8))
    assert [seq for cell_id, seqs in sink.batches if cell_id == "b" for seq in seqs] == list(range(5))
    assert len(sink.batches) == 3, "one batch per cell and wake-up, the last one written on close"
    assert events.measured == [("a", 4), ("b", 4), ("a", 7)]


def test_a_writer_that_cannot_store_says_so_on_close():
    class Broken:
        path = Path("unused")

        def add_records(self, run_id, cell_id, records):
            raise OSError("disk full")

    writer = RecordWriter(Broken(), "run", None, interval_s=0.01)
    with pytest.raises(OSError, match="disk full"), writer:
        writer.add(_cell(), 0, {})
