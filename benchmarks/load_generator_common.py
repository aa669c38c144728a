"""Shared pieces of the load-generator benchmark (`load_generator.py`): the pass criteria every goal
and the report quote, percentile and achieved-rate helpers, and the in-process closed-loop run (the
Driver's `concurrent` scenario on one aiohttp session, with an event-loop lag probe beside it) that
goal 5 sets beside the OpenAI SDK.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np

from vlmperf.backends.endpoint import arrival
from vlmperf.backends.endpoint.client import trace_config
from vlmperf.backends.endpoint.load.calibrate import LAG_PROBE_S, _endpoint
from vlmperf.backends.endpoint.load.driver import Driver, TargetLoad
from vlmperf.backends.endpoint.requests import PreparedRequest
from vlmperf.config.spec import Measure, Scenario

REPO = Path(__file__).resolve().parent.parent
RATE_TOLERANCE = 0.01
LATENESS_P99_LIMIT_MS = 1.0
HIGHEST_RATE = 2000.0
CLOSED_LOOP_RATE = 5000.0
STREAM_LAG_P99_LIMIT_MS = 2.0
STARTUP_LIMIT_S = 1.0


def pct_ms(values_s: list[float]) -> dict[str, float | None]:
    """p50, p99 and max of seconds, in ms."""
    if not values_s:
        return {"p50": None, "p99": None, "max": None}
    data = np.asarray(values_s) * 1e3
    return {"p50": float(np.percentile(data, 50)), "p99": float(np.percentile(data, 99)), "max": float(data.max())}


def _ms(d: dict[str, float | None] | None) -> dict[str, float | None] | None:
    """Percentiles in seconds (calibrate's, a cell's loop lag), in ms."""
    return None if d is None else {k: (None if v is None else v * 1e3) for k, v in d.items()}


def achieved(records: list[dict[str, Any]]) -> float | None:
    """Successful requests / first start to last end (load_figures' achieved_rate)."""
    ok = [r for r in records if r["error"] is None]
    if not records:
        return None
    window = max(r["started_s"] + r["end_s"] for r in records) - min(r["started_s"] for r in records)
    return len(ok) / window if window > 0 else None


async def _lag_probe(stop: asyncio.Event, lags: list[float]) -> None:
    while not stop.is_set():
        started = time.perf_counter()
        await asyncio.sleep(LAG_PROBE_S)
        lags.append(time.perf_counter() - started - LAG_PROBE_S)


async def _closed_loop(
    base_url: str, requests: list[PreparedRequest], concurrency: int, measure: Measure
) -> tuple[list[dict[str, Any]], int, list[float]]:
    """The Driver's `concurrent` scenario on one session; (records, epoch_ns, loop lags in s)."""
    scenario = Scenario(kind="concurrent", concurrency=concurrency)
    connector = arrival.connector(limit=0)
    async with aiohttp.ClientSession(connector=connector, trace_configs=[trace_config()]) as session:
        target = TargetLoad("bench", _endpoint(base_url), requests, on_record=lambda seq, record: None)
        driver = Driver([target], scenario, measure)
        stop, lags = asyncio.Event(), []
        probe = asyncio.create_task(_lag_probe(stop, lags))
        await driver.run(session)
        stop.set()
        await probe
    return target.records, driver.epoch_ns, lags
