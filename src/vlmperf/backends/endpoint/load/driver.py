"""Apply a scenario's load to one or more endpoint targets at once, recording every request.

Targets of one group (cells equal but for their target) share the time window, so drift in the
network and the providers hits them alike:
- `single-stream`: one request at a time, round robin over the targets (A, B, C, A, B, C, ...);
- `concurrent`: each target keeps `concurrency` requests in flight (closed loop);
- `rate`: each target gets requests at scheduled times (constant or Poisson), sent whether or not
  earlier ones returned (open loop), at most `concurrency` in flight when a cap is set; a request
  that waits for a free slot starts late, and its lateness is recorded.
Each target first sends `warmup_runs` requests (not recorded; as many at once as the scenario
keeps in flight, so they also open its connections), then measured requests until its
stop rule holds: `max_runs` sent, or `min_runs` sent, `min_duration_s` passed and (with
`every_sample`) every sample sent once. A target whose error share passes `max_error_rate` after
at least `ERROR_RATE_MIN_REQUESTS` requests stops early, and says why. `interrupt()` (Ctrl-C)
stops every target from sending, lets requests in flight finish for `INTERRUPT_GRACE_S`, then
cancels what is left. While the load runs, a probe records how late a `LAG_PROBE_S` timer
fires (`loop_lag_s`): a busy loop delays every timestamp the client takes. Python's cyclic
garbage collector is off during the measured window (after one collection and `gc.freeze()`):
its full collections stalled the loop for 27-40 ms at a time under load, which showed up as
chunk-timestamp lag (benchmarks/results/load_generator.md).
"""

from __future__ import annotations

import asyncio
import gc
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

import aiohttp

from vlmperf.backends.endpoint.client import Endpoint, send
from vlmperf.backends.endpoint.load.arrivals import deadlines, wait_until
from vlmperf.backends.endpoint.record import request_record
from vlmperf.backends.endpoint.requests import PreparedRequest
from vlmperf.config.spec import Measure, Scenario
from vlmperf.meters.clock import wall_clock_anchor

ERROR_RATE_MIN_REQUESTS = 10
INTERRUPT_GRACE_S = 10.0
"""After Ctrl-C, how long requests already in flight may take to finish before they are cancelled."""
INTERRUPTED = "interrupted by Ctrl-C"
LAG_PROBE_S = 0.01
"""Interval of the event-loop lag probe that runs beside the load: how late its timer fires is how
busy the client's loop is (`loop_lag_s`), the sign of a client-bound measurement."""


@dataclass
class TargetLoad:
    """One cell's target under load: what it sends, and its running counts."""

    name: str
    endpoint: Endpoint
    requests: list[PreparedRequest]
    on_record: Callable[[int, dict[str, Any]], None]
    answers_captions: bool = False
    served_by_fallback: str | None = None
    price: tuple[float, float] | None = None
    id_prefix: str = field(default_factory=lambda: f"vlmperf-{secrets.token_hex(4)}")
    """Request ids are `{id_prefix}/{seq}` (warm-up: `{id_prefix}/warmup-{k}`); a run uses `{run id}/{cell id}`."""
    sent: int = 0
    finished: int = 0
    failed: int = 0
    in_flight: int = 0
    stopped: str | None = None
    started_ns: int = 0
    records: list[dict[str, Any]] = field(default_factory=list)
    warmup_errors: list[str] = field(default_factory=list)
    """Error classes of failed warm-up requests (not measured, but a failing warm-up is worth saying)."""

    def next_request(self) -> tuple[int, PreparedRequest]:
        seq = self.sent
        self.sent += 1
        return seq, self.requests[seq % len(self.requests)]

    def wants_more(self, measure: Measure) -> bool:
        if self.stopped:
            return False
        if self.sent >= measure.max_runs:
            return False
        elapsed_s = (time.perf_counter_ns() - self.started_ns) / 1e9
        covered = not measure.every_sample or self.sent >= len(self.requests)
        return not (self.sent >= measure.min_runs and elapsed_s >= measure.min_duration_s and covered)


class Driver:
    """Runs a scenario over targets with one aiohttp session; `run()` is the coroutine to await."""

    def __init__(
        self,
        targets: list[TargetLoad],
        scenario: Scenario,
        measure: Measure,
        *,
        seed: int = 0,
        lag_probe_s: float = LAG_PROBE_S,
    ) -> None:
        self.targets, self.scenario, self.measure, self.seed = targets, scenario, measure, seed
        self.lag_probe_s = lag_probe_s
        self.loop_lag_s: list[float] = []
        self.epoch_ns = self.epoch_unix_ns = 0
        self.interrupted = False
        self._in_flight: set[asyncio.Task[None]] = set()

    def interrupt(self) -> None:
        """Stop sending now; cancel requests still in flight after the grace period."""
        if self.interrupted:
            return
        self.interrupted = True
        for target in self.targets:
            target.stopped = INTERRUPTED
        loop = asyncio.get_running_loop()
        loop.call_later(INTERRUPT_GRACE_S, lambda: [task.cancel() for task in list(self._in_flight)])

    async def run(self, session: aiohttp.ClientSession) -> None:
        self._session = session
        for target in self.targets:
            await self._warm_up(target)
            target.sent = 0
        gc.collect()  # before the clock starts: a collection takes tens of milliseconds
        gc.freeze()
        gc.disable()
        done = asyncio.Event()
        probe = asyncio.create_task(self._probe_loop_lag(done))
        try:
            self.epoch_ns, self.epoch_unix_ns = wall_clock_anchor()
            for target in self.targets:
                target.started_ns = self.epoch_ns
            kind = self.scenario.kind
            if kind == "single-stream":
                await self._single_stream()
            elif kind == "concurrent":
                await asyncio.gather(
                    *(self._closed_loop(t) for t in self.targets for _ in range(self.scenario.concurrency or 1))
                )
            else:
                await asyncio.gather(*(self._open_loop(t, number) for number, t in enumerate(self.targets)))
        finally:
            gc.enable()
            gc.unfreeze()
            done.set()
            await probe

    async def _warm_up(self, target: TargetLoad) -> None:
        """`warmup_runs` unrecorded requests, as many at once as the scenario keeps in flight (its
        concurrency; one for single-stream or an uncapped rate), so that with `warmup_runs` at least
        that concurrency every connection the window needs is open before it starts."""
        numbers = iter(range(self.measure.warmup_runs))
        width = 1 if self.scenario.kind == "single-stream" else (self.scenario.concurrency or 1)

        async def worker() -> None:
            for k in numbers:
                body = target.next_request()[1].body
                attempt, _ = await send(self._session, target.endpoint, body, f"{target.id_prefix}/warmup-{k}")
                if attempt.error is not None:
                    target.warmup_errors.append(attempt.error["class"])

        await asyncio.gather(*(worker() for _ in range(min(width, self.measure.warmup_runs))))

    async def _probe_loop_lag(self, done: asyncio.Event) -> None:
        while not done.is_set():
            started = time.perf_counter()
            await asyncio.sleep(self.lag_probe_s)
            self.loop_lag_s.append(time.perf_counter() - started - self.lag_probe_s)

    async def _one(self, target: TargetLoad, seq: int, prepared: PreparedRequest, scheduled_ns: int) -> None:
        target.in_flight += 1
        in_flight = target.in_flight
        task = asyncio.current_task()
        assert task is not None
        self._in_flight.add(task)
        request_id = f"{target.id_prefix}/{seq}"
        try:
            attempt, retries = await send(self._session, target.endpoint, prepared.body, request_id)
        except asyncio.CancelledError:
            if not self.interrupted:
                raise
            return  # cancelled after the grace period: the request has no record
        finally:
            self._in_flight.discard(task)
            target.in_flight -= 1
        typed = request_record(
            prepared,
            attempt,
            retries,
            epoch_ns=self.epoch_ns,
            epoch_unix_ns=self.epoch_unix_ns,
            scheduled_ns=scheduled_ns,
            answers_captions=target.answers_captions,
            served_by_fallback=target.served_by_fallback,
            in_flight=in_flight,
            price=target.price,
            request_id=request_id,
        )
        record = cast(dict[str, Any], typed)  # from here on a plain record, as the store and the metrics read it
        target.finished += 1
        target.failed += record["error"] is not None
        target.records.append(record)
        target.on_record(seq, record)
        if target.finished >= ERROR_RATE_MIN_REQUESTS and target.failed / target.finished > self.measure.max_error_rate:
            target.stopped = target.stopped or (
                f"stopped early: {target.failed} of {target.finished} requests failed, past max_error_rate "
                f"{self.measure.max_error_rate:g}"
            )

    async def _single_stream(self) -> None:
        while any(t.wants_more(self.measure) for t in self.targets):
            for target in self.targets:
                if target.wants_more(self.measure):
                    seq, prepared = target.next_request()
                    await self._one(target, seq, prepared, time.perf_counter_ns())

    async def _closed_loop(self, target: TargetLoad) -> None:
        while target.wants_more(self.measure):
            seq, prepared = target.next_request()
            await self._one(target, seq, prepared, time.perf_counter_ns())

    async def _open_loop(self, target: TargetLoad, number: int) -> None:
        cap = asyncio.Semaphore(self.scenario.concurrency) if self.scenario.concurrency else None
        tasks: set[asyncio.Task[None]] = set()
        schedule = deadlines(self.epoch_ns, self.scenario.rate or 1.0, self.scenario.arrival, self.seed + number)
        while target.wants_more(self.measure):
            deadline = next(schedule)
            await wait_until(deadline)
            if cap is not None:
                await cap.acquire()
            seq, prepared = target.next_request()
            task = asyncio.create_task(self._capped(target, seq, prepared, deadline, cap))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.gather(*tasks)

    async def _capped(
        self, target: TargetLoad, seq: int, prepared: PreparedRequest, deadline: int, cap: asyncio.Semaphore | None
    ) -> None:
        try:
            await self._one(target, seq, prepared, deadline)
        finally:
            if cap is not None:
                cap.release()
