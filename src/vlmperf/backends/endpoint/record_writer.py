"""Records leave the measuring event loop through a queue; a thread of their own stores them.

Every timestamp of an endpoint load is taken in one asyncio loop, so whatever else runs on that
loop delays them. Storing each record there cost a SQLite commit per request and, every few
hundred requests, a WAL checkpoint of 14-24 ms during which nothing was sent or stamped. So the
loop only serialises a finished record (orjson, under a microsecond) and appends it to a queue; a
writer thread wakes every `interval_s`, takes everything queued and hands each cell's share to the
sink as one batch (one INSERT statement, or one message to the parent process), then tells the
events which record each cell has reached (`record_measured`, once per cell and batch, never per
request).

The writer shares the GIL with the loop, and every time it takes the GIL while the loop is busy,
the loop waits. Serialising on the loop keeps the writer's own Python work per batch to moving
bytes (about 0.1 ms for 200 records), and one statement per batch makes SQLite release and take
back the GIL once, not once per row: a statement per row stretched each batch of 200 records at
2,000 requests/s over 60-100 ms of GIL handovers, and most late requests fell inside them.

What a crash can lose: the records of the cell being measured that were queued since the last
batch (at most `interval_s` worth). Nothing that was acknowledged is lost: a cell counts as
measured only once `finish_cell` is stored, which happens after `close()` has written every queued
record; a cell killed before that stays `running` in the store and is measured again in full on
`--resume` (`start_cell` drops its partial records).
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any

from vlmperf.runner.events import RunEvents
from vlmperf.runner.plan import Cell
from vlmperf.runner.sink import CellSink
from vlmperf.store.sqlite import to_blob

WRITE_INTERVAL_S = 0.1
"""How often the writer stores what was queued: the most a killed run loses of an unfinished cell."""


class RecordWriter:
    """`with RecordWriter(sink, run_id, events) as writer:` ... `writer.add(cell, seq, record)` from any thread."""

    def __init__(self, sink: CellSink, run_id: str, events: RunEvents, *, interval_s: float = WRITE_INTERVAL_S) -> None:
        self._sink, self._run_id, self._events, self._interval_s = sink, run_id, events, interval_s
        self._queued: deque[tuple[Cell, int, bytes]] = deque()
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._work, name="vlmperf-record-writer", daemon=True)
        self._error: BaseException | None = None

    def add(self, cell: Cell, seq: int, record: dict[str, Any]) -> None:
        """Queue a record to be stored: its serialisation and a deque append, on the caller's thread."""
        self._queued.append((cell, seq, to_blob(record)))

    def __enter__(self) -> RecordWriter:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Store everything queued, stop the thread, and raise here whatever stopped it from storing."""
        self._closing.set()
        self._thread.join()
        if self._error is not None:
            raise self._error

    def _work(self) -> None:
        try:
            while not self._closing.wait(self._interval_s):
                self._store_queued()
            self._store_queued()
        except BaseException as exc:  # raised again by close(), on the caller's thread
            self._error = exc

    def _store_queued(self) -> None:
        by_cell: dict[str, tuple[Cell, list[tuple[int, dict[str, Any] | bytes]]]] = {}
        while self._queued:  # popleft is atomic: the loop may append meanwhile
            cell, seq, record = self._queued.popleft()
            by_cell.setdefault(cell.id, (cell, []))[1].append((seq, record))
        for cell, records in by_cell.values():
            self._sink.add_records(self._run_id, cell.id, records)
            self._events.record_measured(cell, max(seq for seq, _ in records))
