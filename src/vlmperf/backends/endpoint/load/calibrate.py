"""How much of a measurement is the client: its floor latency and the highest rate it can drive.

`calibrate()` starts the instant server (`vlmperf.backends.endpoint.load.instant_server`) in a child process on
loopback and drives it with the same driver and client a run uses:
1. the floor: single-stream requests to a server that answers at once; their `e2e_s` is what the
   client, the loopback and a trivial server add to any measured latency;
2. rate steps: open-loop constant rates for `duration_s` each, each reporting the rate requests
   were sent at ((n - 1) / (last start - first start)), the achieved rate (completed requests per
   second of the whole window), scheduler lateness (p50, p99) and event-loop lag (how late a 1 ms
   timer fires while the load runs). A step holds when the send rate is within 1% of the offered
   one, p99 lateness is at most 2 ms and no request failed; `max_rate` is the highest step that
   held (the steps stop at the first that fails).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from typing import Any

import aiohttp
import orjson

from vlmperf.backends.endpoint import arrival
from vlmperf.backends.endpoint.client import Endpoint, trace_config
from vlmperf.backends.endpoint.load.driver import Driver, TargetLoad
from vlmperf.backends.endpoint.requests import PreparedRequest
from vlmperf.config.spec import Measure, Scenario
from vlmperf.errors import VlmperfError
from vlmperf.metrics.load_figures import load_figures
from vlmperf.metrics.summary import tail

DEFAULT_RATES = (100, 250, 500, 1000, 2000, 3000, 4000)
RATE_TOLERANCE = 0.01
LATENESS_P99_LIMIT_S = 0.002
LAG_PROBE_S = 0.001


class InstantServer:
    """The instant server in a child process; `with InstantServer() as url:` gives its base URL."""

    def __enter__(self) -> str:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self._process = subprocess.Popen(
            [sys.executable, "-m", "vlmperf.backends.endpoint.load.instant_server"],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        line = self._process.stdout.readline() if self._process.stdout else ""
        if not line.startswith("PORT "):
            self._process.kill()
            raise VlmperfError(f"the calibration server did not start (it printed {line!r})")
        return f"http://127.0.0.1:{int(line.split()[1])}/v1"

    def __exit__(self, *exc: object) -> None:
        self._process.terminate()
        self._process.wait(timeout=10)


def _endpoint(base_url: str) -> Endpoint:
    return Endpoint(
        url=f"{base_url}/chat/completions",
        headers={"Content-Type": "application/json"},
        stream=True,
        connect_timeout_s=5,
        first_byte_timeout_s=10,
        idle_timeout_s=10,
        total_timeout_s=30,
    )


def _request() -> PreparedRequest:
    body = {"model": "calibration", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4, "stream": True}
    return PreparedRequest("calibration", orjson.dumps(body), 0, 0, 0)


async def _drive(base_url: str, scenario: Scenario, measure: Measure) -> tuple[list[dict[str, Any]], list[float]]:
    target = TargetLoad("calibration", _endpoint(base_url), [_request()], on_record=lambda seq, record: None)
    driver = Driver([target], scenario, measure, lag_probe_s=LAG_PROBE_S)
    connector = arrival.connector(limit=0)
    async with aiohttp.ClientSession(connector=connector, trace_configs=[trace_config()]) as session:
        await driver.run(session)
    return target.records, driver.loop_lag_s


def rate_step(base_url: str, rate: float, duration_s: float) -> dict[str, Any]:
    """One open-loop step at `rate` requests/s for `duration_s`."""
    scenario = Scenario(kind="rate", rate=rate)
    count = max(1, round(rate * duration_s))
    measure = Measure(warmup_runs=0, min_runs=count, max_runs=count, min_duration_s=0, every_sample=False)
    records, lags = asyncio.run(_drive(base_url, scenario, measure))
    figures = load_figures(records, scenario)
    lateness = tail([r["started_s"] - r["scheduled_s"] for r in records])
    starts = sorted(r["started_s"] for r in records)
    sent_rate = (len(starts) - 1) / (starts[-1] - starts[0]) if len(starts) > 1 and starts[-1] > starts[0] else None
    holds = (
        sent_rate is not None
        and abs(sent_rate / rate - 1) <= RATE_TOLERANCE
        and (lateness["p99"] or 0) <= LATENESS_P99_LIMIT_S
    )
    return {
        "offered_rate": rate,
        "sent_rate": sent_rate,
        "achieved_rate": figures["achieved_rate"]["value"],
        "requests": len(records),
        "error_rate": figures["error_rate"]["value"],
        "scheduler_lateness_s": lateness,
        "loop_lag_s": tail(lags),
        "holds": holds and figures["error_rate"]["value"] == 0,
    }


def client_floor(base_url: str, requests: int = 200) -> dict[str, Any]:
    """Single-stream latency against the instant server: what the client itself adds."""
    measure = Measure(warmup_runs=10, min_runs=requests, max_runs=requests, min_duration_s=0, every_sample=False)
    records, _ = asyncio.run(_drive(base_url, Scenario(kind="single-stream"), measure))
    ok = [r for r in records if r["error"] is None]
    return {
        "requests": len(records),
        "e2e_s": tail([r["e2e_s"] for r in ok]),
        "ttft_s": tail([r["ttft_s"] for r in ok]),
        "request_sent_s": tail([r["request_sent_s"] for r in ok if r["request_sent_s"] is not None]),
    }


def calibrate(duration_s: float = 2.0, rates: tuple[float, ...] = DEFAULT_RATES) -> dict[str, Any]:
    """The floor and the rate steps on this machine (see the module docstring)."""
    with InstantServer() as base_url:
        floor = client_floor(base_url)
        steps = []
        for rate in rates:
            steps.append(rate_step(base_url, rate, duration_s))
            if not steps[-1]["holds"]:
                break
    held = [s["offered_rate"] for s in steps if s["holds"]]
    return {
        "cpu_count": os.cpu_count(),
        "floor": floor,
        "steps": steps,
        "max_rate": max(held) if held else None,
        "criteria": {"rate_tolerance": RATE_TOLERANCE, "lateness_p99_limit_s": LATENESS_P99_LIMIT_S},
    }
