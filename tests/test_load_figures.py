"""Cell-level endpoint figures: rates, error classes, captions, and the client-bound flag."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest

from vlmperf.backends.endpoint.client import Endpoint, trace_config
from vlmperf.backends.endpoint.load.driver import Driver, TargetLoad
from vlmperf.backends.endpoint.requests import PreparedRequest
from vlmperf.config.spec import Measure, Scenario
from vlmperf.metrics.load_figures import client_bound, load_figures

from fixtures import scripted_server as ss

RATE = Scenario(kind="rate", rate=10)


def record(scheduled: float, started: float, end: float = 0.1, error: str | None = None, captions=None) -> dict:
    return {
        "scheduled_s": scheduled,
        "started_s": started,
        "end_s": end,
        "captions": captions,
        "error": {"class": error} if error else None,
        "served_by": None,
    }


def test_rates_errors_and_captions_are_counted_from_the_records():
    records = [record(0.0, 0.0, captions=[3]), record(0.1, 0.1, captions=[2]), record(0.2, 0.2, error="http_5xx")]
    figures = load_figures(records, RATE)
    assert figures["requests"] == {"value": 3}
    assert figures["error_rate"] == {"value": 1 / 3, "by_class": {"http_5xx": 1}}
    assert figures["offered_rate"] == {"value": 10}
    assert figures["achieved_rate"]["value"] == pytest.approx(2 / 0.3), "successes over first start to last end"
    assert figures["total_captions"] == {"value": 5}
    assert load_figures(records, Scenario(kind="single-stream"))["offered_rate"] == {"value": None}


def test_the_client_bound_flag_names_what_showed_it():
    calm = [record(i / 10, i / 10 + 0.0001) for i in range(100)]
    late = [record(i / 10, i / 10 + 0.02) for i in range(100)]
    assert client_bound(calm, RATE, [0.0002] * 50) == {"value": False, "why": []}
    assert client_bound(late, RATE, [])["why"] == ["scheduler lateness p99 20.0 ms"]
    capped = Scenario(kind="rate", rate=10, concurrency=2)
    assert client_bound(late, capped, [])["value"] is False, "a full cap is the server's doing"
    assert client_bound(calm, Scenario(kind="single-stream"), [0.03] * 10)["why"] == ["event-loop lag p99 30.0 ms"]


def test_a_client_that_blocks_its_own_loop_is_flagged(tmp_path):
    """The record callback blocks the loop for 30 ms: the lag probe must see it."""
    with ss.ScriptedServer([ss.stream_reply(["a"], 0.001)]) as server:
        endpoint = Endpoint(
            url=f"{server.base_url}/chat/completions",
            headers={},
            stream=True,
            connect_timeout_s=5,
            first_byte_timeout_s=5,
            idle_timeout_s=5,
            total_timeout_s=10,
        )
        target = TargetLoad(
            "t",
            endpoint,
            [PreparedRequest("s", b'{"stream": true}', 0, 0, 0)],
            on_record=lambda seq, rec: time.sleep(0.03),
        )
        driver = Driver(
            [target], Scenario(kind="single-stream"), Measure(warmup_runs=0, min_runs=10, every_sample=False)
        )

        async def go() -> None:
            async with aiohttp.ClientSession(trace_configs=[trace_config()]) as session:
                await driver.run(session)

        asyncio.run(go())
    flag = load_figures(target.records, Scenario(kind="single-stream"), driver.loop_lag_s)["client_bound"]
    assert flag["value"] is True and flag["why"][0].startswith("event-loop lag p99")
