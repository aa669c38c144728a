"""Goal 5 of the load-generator benchmark (`load_generator.py`): the OpenAI Python SDK
(`AsyncOpenAI(...).chat.completions.create(stream=True)`) through the same workload as vlmperf's
client, a single-stream latency floor and closed-loop throughput, in rounds that alternate which
client goes first, with per-round vlmperf / SDK ratios and their medians; a comparison with no pass
criterion, skipped when `openai` is not installed.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import Any

from load_generator_common import _closed_loop, _ms, achieved, pct_ms

from vlmperf.backends.endpoint.load.calibrate import _request, client_floor
from vlmperf.config.spec import Measure


async def _sdk_one(client: Any) -> tuple[int, int | None, int | None, int, bool]:
    start = time.perf_counter_ns()
    first = last = None
    try:
        stream = await client.chat.completions.create(
            model="calibration", messages=[{"role": "user", "content": "hi"}], max_tokens=4, stream=True
        )
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                last = time.perf_counter_ns()
                first = first or last
        ok = last is not None
    except Exception:  # noqa: BLE001  - any failure counts as an error, as vlmperf's client does
        ok = False
    return start, first, last, time.perf_counter_ns(), ok


async def _sdk_floor(base_url: str, requests: int, warmup: int = 10) -> dict[str, Any]:
    import openai

    async with openai.AsyncOpenAI(base_url=base_url, api_key="x", max_retries=0) as client:
        for _ in range(warmup):
            await _sdk_one(client)
        results = [await _sdk_one(client) for _ in range(requests)]
    ok = [r for r in results if r[4]]
    return {
        "requests": len(results),
        "errors": len(results) - len(ok),
        "e2e_ms": pct_ms([(r[2] - r[0]) / 1e9 for r in ok]),
        "ttft_ms": pct_ms([(r[1] - r[0]) / 1e9 for r in ok]),
    }


async def _sdk_closed(base_url: str, concurrency: int, duration_s: float) -> dict[str, Any]:
    import openai

    results: list[tuple[int, int | None, int | None, int, bool]] = []
    async with openai.AsyncOpenAI(base_url=base_url, api_key="x", max_retries=0) as client:
        started = time.perf_counter_ns()

        async def worker() -> None:
            while time.perf_counter_ns() - started < duration_s * 1e9:
                results.append(await _sdk_one(client))

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    ok = [r for r in results if r[4]]
    window = (max(r[3] for r in results) - min(r[0] for r in results)) / 1e9
    return {
        "requests": len(results),
        "errors": len(results) - len(ok),
        "achieved_rate": len(ok) / window,
        "e2e_ms": pct_ms([(r[2] - r[0]) / 1e9 for r in ok]),
    }


def goal_sdk(base_url: str, args: argparse.Namespace) -> dict[str, Any]:
    try:
        import openai
    except ImportError:
        return {"skipped": "openai is not installed (pip install openai); the SDK comparison was not run", "pass": None}
    measure = Measure(warmup_runs=0, min_runs=1, max_runs=10_000_000, min_duration_s=args.sdk_s, every_sample=False)

    def vlmperf_floor() -> dict[str, Any]:
        floor = client_floor(base_url, requests=args.floor_requests)
        return {"requests": floor["requests"], "e2e_ms": _ms(floor["e2e_s"]), "ttft_ms": _ms(floor["ttft_s"])}

    def vlmperf_closed() -> dict[str, Any]:
        records, _, _ = asyncio.run(_closed_loop(base_url, [_request()], args.sdk_concurrency, measure))
        ok = [r for r in records if r["error"] is None]
        return {
            "requests": len(records),
            "errors": len(records) - len(ok),
            "achieved_rate": achieved(records),
            "e2e_ms": pct_ms([r["e2e_s"] for r in ok]),
        }

    rounds = []
    for number in range(args.sdk_rounds):
        vlmperf_first = number % 2 == 0
        entry: dict[str, Any] = {"order": "vlmperf, sdk" if vlmperf_first else "sdk, vlmperf"}
        for name in ["vlmperf", "sdk"] if vlmperf_first else ["sdk", "vlmperf"]:
            entry[f"{name}_floor"] = (
                vlmperf_floor() if name == "vlmperf" else asyncio.run(_sdk_floor(base_url, args.floor_requests))
            )
        for name in ["vlmperf", "sdk"] if vlmperf_first else ["sdk", "vlmperf"]:
            entry[f"{name}_closed"] = (
                vlmperf_closed()
                if name == "vlmperf"
                else asyncio.run(_sdk_closed(base_url, args.sdk_concurrency, args.sdk_s))
            )
        entry["e2e_p50_ratio"] = entry["vlmperf_floor"]["e2e_ms"]["p50"] / entry["sdk_floor"]["e2e_ms"]["p50"]
        entry["throughput_ratio"] = entry["vlmperf_closed"]["achieved_rate"] / entry["sdk_closed"]["achieved_rate"]
        rounds.append(entry)
        print(
            f"  round {number + 1} ({entry['order']}): "
            f"e2e p50 vlmperf {entry['vlmperf_floor']['e2e_ms']['p50']:.3f} ms, "
            f"SDK {entry['sdk_floor']['e2e_ms']['p50']:.3f} ms; {args.sdk_concurrency} in flight vlmperf "
            f"{entry['vlmperf_closed']['achieved_rate']:.0f}/s, SDK {entry['sdk_closed']['achieved_rate']:.0f}/s",
            flush=True,
        )
    return {
        "openai": openai.__version__,
        "floor_requests": args.floor_requests,
        "concurrency": args.sdk_concurrency,
        "duration_s": args.sdk_s,
        "rounds": rounds,
        "median_e2e_p50_ratio": statistics.median(r["e2e_p50_ratio"] for r in rounds),
        "median_throughput_ratio": statistics.median(r["throughput_ratio"] for r in rounds),
        "pass": None,
    }
