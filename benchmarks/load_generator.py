"""Speed of the load generator (issue 4): vlmperf's endpoint client against a loopback server that answers at once.

The server is `vlmperf.load.instant_server` in its own process (`calibrate.InstantServer`), so it
shares neither the client's event loop nor its GIL; everything else runs in this one client
process, through the same `Driver` and aiohttp client (`backends/endpoint/client.py`) a run uses.
Five goals, each with its pass criterion:

1. Constant rate held from 10 to 1,000 requests/s: open-loop rate steps (`calibrate.rate_step`:
   absolute deadlines, constant arrivals, no concurrency cap), each at least `--step-s` seconds and
   `--min-requests` requests. A step holds when the rate requests were *sent* at
   ((n - 1) / (last start - first start)) is within 1% of the target, p99 scheduler lateness
   (start - deadline) is at most 2 ms and no request failed. The *achieved* rate (completed
   requests / first start to last end, `load_figures`' definition) is reported beside it; at n
   requests it reads n / (n - 1) of the sent rate by construction (+1% at 100 requests).
2. At least 2,000 requests/s sustained from one client process: an open-loop 2,000/s step for
   `--step-s` seconds (passes when its achieved rate is at least 1,980/s with no error and its
   sent rate within 1%), and closed-loop `concurrent` scenarios (`--concurrency`, default 32 and 64
   in flight, `--closed-s` seconds each) whose highest achieved rate must be at least 2,000/s.
3. 256 concurrent streams with p99 chunk-timestamp lag at most 5 ms: the server's paced mode
   (request body `"paced": {"chunks": N, "interval_ms": X}`) sends N content chunks X ms apart,
   each chunk's text being the server's `perf_counter_ns()` when it wrote the chunk (CLOCK_MONOTONIC,
   comparable across processes on Linux). The Driver's `concurrent` scenario keeps 256 streams in
   flight for `--stream-s` seconds (after an unmeasured warm-up run of 256 that opens the
   connections); a chunk's lag is the client's arrival stamp (rebuilt from the record: epoch +
   started_s + ttft_s + the inter-token gaps) minus the server's send stamp parsed from its text,
   over every chunk of every measured request. Judged: stream lengths varied (`--chunks` ±
   `--chunk-spread`, cycled in a seeded order), as a real server's answers are, so requests end and
   restart spread over time. Reported, not judged: equal lengths (every stream ends and the next
   starts at the same moment, 256 request turnovers in one burst) and varied lengths with every
   chunk on one shared grid (`"aligned": true`: all streams write in the same instant, as a server
   decoding one batch would), and a diagnostic: varied lengths with Python's cyclic garbage
   collector disabled during the load (`gc.disable()`), to show what its pauses cost. Every
   variant logs the collector's pauses (`gc.callbacks`).
4. Under 1 s from the command to the first request: `python -m vlmperf run CONFIG` (endpoint
   target, preset vllm, base_url the instant server, caption task on the builtin samples, one
   single-stream request, no warm-up) as a subprocess, `--startup-repeats` times; the time runs
   from just before `Popen` to the server's arrival stamp of the first request (`GET /stats`), and
   the command is killed once that request arrived (its scoring afterwards is not this goal). The
   median must be under 1 s. `python -X importtime` of `vlmperf.cli` gives the import chain's
   biggest costs beside it.
5. The OpenAI Python SDK through the same workload, if `openai` is installed: single-stream floor
   (e2e p50: before the call to the last content chunk; vlmperf: `calibrate.client_floor`) and
   closed-loop throughput at `--sdk-concurrency` in flight (`AsyncOpenAI(...).chat.completions.create(
   stream=True)` workers against the Driver's `concurrent` scenario, same duration, same achieved-rate
   definition), `--sdk-rounds` rounds alternating which goes first; per-round ratios vlmperf / SDK
   and their median. No pass criterion (a comparison); skipped, and said so, without the SDK.

Run from the repository root:  python benchmarks/load_generator.py [--out DIR]
Writes results/load_generator.json (every figure, settings, environment) and results/load_generator.md
(the short table). Exits 1 when a goal fails. About 70 s on 2 cores.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import gc
import itertools
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any, Self

import aiohttp
import numpy as np
import orjson

from vlmperf.backends.endpoint.client import trace_config
from vlmperf.backends.endpoint.requests import PreparedRequest
from vlmperf.config.spec import Measure, Scenario
from vlmperf.load.calibrate import LAG_PROBE_S, InstantServer, _endpoint, _request, client_floor, rate_step
from vlmperf.load.driver import Driver, TargetLoad

REPO = Path(__file__).resolve().parent.parent
RATE_TOLERANCE = 0.01
LATENESS_P99_LIMIT_MS = 2.0
SUSTAINED_RATE = 2000.0
STREAM_LAG_P99_LIMIT_MS = 5.0
STARTUP_LIMIT_S = 1.0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--rates",
        type=float,
        nargs="+",
        default=[10, 100, 250, 500, 1000],
        help="goal 1 rate steps, requests/s (default: 10 100 250 500 1000)",
    )
    parser.add_argument("--step-s", type=float, default=3.0, help="shortest rate step, seconds (default: 3)")
    parser.add_argument("--min-requests", type=int, default=100, help="fewest requests per rate step (default: 100)")
    parser.add_argument("--high-rate", type=float, default=SUSTAINED_RATE, help="goal 2 open-loop rate (default: 2000)")
    parser.add_argument(
        "--concurrency", type=int, nargs="+", default=[32, 64], help="goal 2 closed-loop levels (default: 32 64)"
    )
    parser.add_argument(
        "--closed-s", type=float, default=3.0, help="goal 2 closed-loop duration per level, s (default: 3)"
    )
    parser.add_argument("--streams", type=int, default=256, help="goal 3 concurrent streams (default: 256)")
    parser.add_argument("--chunks", type=int, default=20, help="goal 3 content chunks per stream (default: 20)")
    parser.add_argument("--interval-ms", type=float, default=25.0, help="goal 3 gap between chunks, ms (default: 25)")
    parser.add_argument(
        "--chunk-spread",
        type=int,
        default=10,
        help="goal 3 stream lengths vary over chunks ± this (default: 10, i.e. 10 to 30)",
    )
    parser.add_argument(
        "--stream-s", type=float, default=3.0, help="goal 3 measured duration per variant, s (default: 3)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the order of stream lengths (default: 0)")
    parser.add_argument("--startup-repeats", type=int, default=5, help="goal 4 repeats (default: 5)")
    parser.add_argument("--sdk-rounds", type=int, default=3, help="goal 5 rounds (default: 3)")
    parser.add_argument(
        "--floor-requests", type=int, default=200, help="goal 5 single-stream requests per condition (default: 200)"
    )
    parser.add_argument("--sdk-concurrency", type=int, default=64, help="goal 5 closed-loop concurrency (default: 64)")
    parser.add_argument(
        "--sdk-s", type=float, default=2.0, help="goal 5 closed-loop duration per condition, s (default: 2)"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=REPO / "benchmarks" / "results",
        help="folder for load_generator.{json,md} (default: benchmarks/results)",
    )
    return parser.parse_args(argv)


# ---------------------------------------------------------------------------------------------- helpers


def pct_ms(values_s: list[float]) -> dict[str, float | None]:
    """p50, p99 and max of seconds, in ms."""
    if not values_s:
        return {"p50": None, "p99": None, "max": None}
    data = np.asarray(values_s) * 1e3
    return {"p50": float(np.percentile(data, 50)), "p99": float(np.percentile(data, 99)), "max": float(data.max())}


def _ms(d: dict[str, float | None] | None) -> dict[str, float | None] | None:
    """calibrate's seconds percentiles, in ms."""
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
    base_url: str,
    requests: list[PreparedRequest],
    concurrency: int,
    measure: Measure,
    warmup: PreparedRequest | None = None,
) -> tuple[list[dict[str, Any]], int, list[float]]:
    """The Driver's `concurrent` scenario on one session; (records, epoch_ns, loop lags in s)."""
    scenario = Scenario(kind="concurrent", concurrency=concurrency)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector, trace_configs=[trace_config()]) as session:
        if warmup is not None:  # opens `concurrency` connections, kept in the pool
            warm = TargetLoad("warmup", _endpoint(base_url), [warmup], on_record=lambda seq, record: None)
            once = Measure(
                warmup_runs=0, min_runs=concurrency, max_runs=concurrency, min_duration_s=0, every_sample=False
            )
            await Driver([warm], scenario, once).run(session)
        target = TargetLoad("bench", _endpoint(base_url), requests, on_record=lambda seq, record: None)
        driver = Driver([target], scenario, measure)
        stop, lags = asyncio.Event(), []
        probe = asyncio.create_task(_lag_probe(stop, lags))
        await driver.run(session)
        stop.set()
        await probe
    return target.records, driver.epoch_ns, lags


class GcPauses:
    """Times every collection of Python's cyclic garbage collector while it is entered."""

    def __init__(self) -> None:
        self.pauses: list[tuple[int, float]] = []
        self._started = 0.0

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.pauses.append((info["generation"], time.perf_counter() - self._started))

    def __enter__(self) -> Self:
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self._callback)

    def summary(self) -> dict[str, Any]:
        return {
            f"gen{g}": {
                "collections": sum(1 for gen, _ in self.pauses if gen == g),
                "max_ms": max((d * 1e3 for gen, d in self.pauses if gen == g), default=0.0),
            }
            for g in range(3)
        } | {"over_5ms": sum(1 for _, d in self.pauses if d > 0.005), "total_ms": sum(d for _, d in self.pauses) * 1e3}


def _prepared(body: dict[str, Any]) -> PreparedRequest:
    return PreparedRequest("bench", orjson.dumps(body), 0, 0, 0)


# ---------------------------------------------------------------------------------------------- goals


def goal_rates(base_url: str, args: argparse.Namespace) -> dict[str, Any]:
    steps = []
    for rate in args.rates:
        duration = max(args.step_s, args.min_requests / rate)
        step = rate_step(base_url, rate, duration)
        lateness = _ms(step["scheduler_lateness_s"])
        sent_ok = step["sent_rate"] is not None and abs(step["sent_rate"] / rate - 1) <= RATE_TOLERANCE
        steps.append(
            {
                "rate": rate,
                "duration_s": duration,
                "requests": step["requests"],
                "sent_rate": step["sent_rate"],
                "achieved_rate": step["achieved_rate"],
                "error_rate": step["error_rate"],
                "sent_rate_error": None if step["sent_rate"] is None else step["sent_rate"] / rate - 1,
                "lateness_ms": lateness,
                "loop_lag_ms": _ms(step["loop_lag_s"]),
                "pass": bool(sent_ok and (lateness["p99"] or 0) <= LATENESS_P99_LIMIT_MS and step["error_rate"] == 0),
            }
        )
        print(
            f"  rate {rate:g}/s: sent {steps[-1]['sent_rate']:.2f}/s, achieved {steps[-1]['achieved_rate']:.2f}/s, "
            f"lateness p99 {lateness['p99']:.3f} ms, {'pass' if steps[-1]['pass'] else 'FAIL'}",
            flush=True,
        )
    return {"steps": steps, "pass": all(s["pass"] for s in steps)}


def goal_throughput(base_url: str, args: argparse.Namespace) -> dict[str, Any]:
    step = rate_step(base_url, args.high_rate, args.step_s)
    lateness = _ms(step["scheduler_lateness_s"])
    open_loop = {
        "rate": args.high_rate,
        "duration_s": args.step_s,
        "requests": step["requests"],
        "sent_rate": step["sent_rate"],
        "achieved_rate": step["achieved_rate"],
        "error_rate": step["error_rate"],
        "lateness_ms": lateness,
        "loop_lag_ms": _ms(step["loop_lag_s"]),
        "pass": bool(
            step["achieved_rate"]
            and step["achieved_rate"] >= args.high_rate * (1 - RATE_TOLERANCE)
            and step["error_rate"] == 0
            and step["sent_rate"]
            and abs(step["sent_rate"] / args.high_rate - 1) <= RATE_TOLERANCE
        ),
    }
    print(
        f"  open loop {args.high_rate:g}/s: sent {step['sent_rate']:.1f}/s, achieved {step['achieved_rate']:.1f}/s, "
        f"lateness p99 {lateness['p99']:.3f} ms",
        flush=True,
    )
    closed = []
    measure = Measure(warmup_runs=0, min_runs=1, max_runs=10_000_000, min_duration_s=args.closed_s, every_sample=False)
    for concurrency in args.concurrency:
        records, _, lags = asyncio.run(_closed_loop(base_url, [_request()], concurrency, measure))
        ok = [r for r in records if r["error"] is None]
        closed.append(
            {
                "concurrency": concurrency,
                "requests": len(records),
                "errors": len(records) - len(ok),
                "achieved_rate": achieved(records),
                "e2e_ms": pct_ms([r["e2e_s"] for r in ok]),
                "loop_lag_ms": pct_ms(lags),
            }
        )
        print(f"  closed loop {concurrency}: {closed[-1]['achieved_rate']:.1f}/s", flush=True)
    best = max(closed, key=lambda c: c["achieved_rate"] or 0)
    return {
        "open_loop": open_loop,
        "closed_loop": closed,
        "closed_loop_best": {
            "concurrency": best["concurrency"],
            "achieved_rate": best["achieved_rate"],
            "pass": bool((best["achieved_rate"] or 0) >= args.high_rate),
        },
        "pass": bool(open_loop["pass"] and (best["achieved_rate"] or 0) >= args.high_rate),
    }


def _stream_lags(
    base_url: str, args: argparse.Namespace, *, spread: int, aligned: bool, gc_off: bool = False
) -> dict[str, Any]:
    """`args.streams` paced streams in flight for `args.stream_s` s; the lag of every chunk's arrival stamp."""
    lengths = list(range(args.chunks - spread, args.chunks + spread + 1))
    random.Random(args.seed).shuffle(lengths)
    requests = [
        _prepared(
            {
                "model": "paced",
                "messages": [{"role": "user", "content": "hi"}],
                "max_tokens": n,
                "stream": True,
                "paced": {"chunks": n, "interval_ms": args.interval_ms, "aligned": aligned},
            }
        )
        for n in lengths
    ]
    warm = _prepared(
        {
            "model": "paced",
            "messages": [{"role": "user", "content": "hi"}],
            "max_tokens": 2,
            "stream": True,
            "paced": {"chunks": 2, "interval_ms": args.interval_ms},
        }
    )
    measure = Measure(
        warmup_runs=0, min_runs=args.streams, max_runs=10_000_000, min_duration_s=args.stream_s, every_sample=False
    )
    if gc_off:
        gc.disable()
    try:
        with GcPauses() as pauses:
            records, epoch_ns, loop_lags = asyncio.run(
                _closed_loop(base_url, requests, args.streams, measure, warmup=warm)
            )
    finally:
        gc.enable()
    lags_ns: list[int] = []
    server_gaps_ns: list[int] = []
    mismatched = 0
    for r in records:
        if r["error"] is not None or r["ttft_s"] is None:
            continue
        stamps = [int(s) for s in r["outputs"][0].split()]
        arrivals = [epoch_ns + (r["started_s"] + r["ttft_s"]) * 1e9]
        for gap in r["itl_s"]:
            arrivals.append(arrivals[-1] + gap * 1e9)
        if len(stamps) != len(arrivals):
            mismatched += 1
            continue
        lags_ns += [round(a) - s for a, s in zip(arrivals, stamps)]
        server_gaps_ns += [b - a for a, b in itertools.pairwise(stamps)]
    result = {
        "chunks_per_stream": [min(lengths), max(lengths)],
        "aligned": aligned,
        "streams": args.streams,
        "requests": len(records),
        "errors": sum(r["error"] is not None for r in records),
        "max_in_flight": max((r["in_flight"] for r in records), default=0),
        "chunks": len(lags_ns),
        "records_with_unmatched_chunks": mismatched,
        "lag_ms": pct_ms([x / 1e9 for x in lags_ns]),
        "negative_lags": sum(x < 0 for x in lags_ns),
        "server_interval_ms": pct_ms([g / 1e9 for g in server_gaps_ns]),
        "loop_lag_ms": pct_ms(loop_lags),
        "achieved_rate": achieved(records),
        "gc_disabled": gc_off,
        "gc_pauses": pauses.summary(),
    }
    result["pass"] = bool(
        result["errors"] == 0
        and mismatched == 0
        and result["max_in_flight"] >= args.streams
        and result["lag_ms"]["p99"] is not None
        and result["lag_ms"]["p99"] <= STREAM_LAG_P99_LIMIT_MS
    )
    return result


STREAM_VARIANTS = (
    ("varied", "lengths varied, each stream on its own schedule", True),
    ("equal", "equal lengths: all streams end and restart together", False),
    ("aligned", "lengths varied, chunks on one grid (a batch)", False),
    ("varied_gc_off", "lengths varied, Python's cyclic GC off during the load (diagnostic)", False),
)


def goal_streams(base_url: str, args: argparse.Namespace) -> dict[str, Any]:
    variants = {}
    for key, label, judged in STREAM_VARIANTS:
        spread = 0 if key == "equal" else args.chunk_spread
        variants[key] = _stream_lags(
            base_url, args, spread=spread, aligned=key == "aligned", gc_off=key == "varied_gc_off"
        ) | {"label": label, "judged": judged}
        lag = variants[key]["lag_ms"]
        print(
            f"  {args.streams} streams, {label}: lag p50 {lag['p50']:.3f} p99 {lag['p99']:.3f} max {lag['max']:.3f} ms"
            + ("" if judged else " (not judged)"),
            flush=True,
        )
    return {
        "chunks": args.chunks,
        "chunk_spread": args.chunk_spread,
        "interval_ms": args.interval_ms,
        "duration_s": args.stream_s,
        "variants": variants,
        "pass": variants["varied"]["pass"],
    }


def _stats(root: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{root}/stats", timeout=5) as response:
        return json.loads(response.read())


def _import_costs(top: int = 12) -> list[dict[str, Any]]:
    """`python -X importtime -c 'import vlmperf.cli'`: the biggest cumulative import costs."""
    run = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import vlmperf.cli"], capture_output=True, text=True, check=False
    )
    rows = []
    for line in run.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, self_us, cumulative_us, name = (part.strip() for part in line.replace("import time:", "|").split("|"))
        rows.append({"module": name.strip(), "self_ms": int(self_us) / 1e3, "cumulative_ms": int(cumulative_us) / 1e3})
    rows.sort(key=lambda r: r["cumulative_ms"], reverse=True)
    return rows[:top]


def goal_startup(base_url: str, args: argparse.Namespace) -> dict[str, Any]:
    root = base_url.removesuffix("/v1")
    times = []
    with tempfile.TemporaryDirectory(prefix="vlmperf-startup-") as folder:
        config = Path(folder) / "startup.yaml"
        config.write_text(
            "name: startup\n"
            f"target: {{kind: endpoint, preset: vllm, model: instant, base_url: '{base_url}'}}\n"
            "workload: {task: caption, source: builtin}\n"
            "scenario: {kind: single-stream}\n"
            "measure: {warmup_runs: 0, min_runs: 1, max_runs: 1}\n"
        )
        command = [sys.executable, "-m", "vlmperf", "run", str(config), "--out", str(Path(folder) / "store")]
        for _ in range(args.startup_repeats):
            urllib.request.urlopen(urllib.request.Request(f"{root}/stats/reset", method="POST"), timeout=5).read()
            started = time.perf_counter_ns()
            process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            first = None
            while first is None and time.perf_counter_ns() - started < 60e9:
                time.sleep(0.05)
                first = _stats(root)["first_request_ns"]
                if first is None and process.poll() is not None:
                    break
            process.kill()
            process.wait()
            times.append(None if first is None else (first - started) / 1e9)
            print(
                f"  command to first request: {times[-1]:.3f} s" if times[-1] is not None else "  no request arrived",
                flush=True,
            )
    measured = [t for t in times if t is not None]
    median = statistics.median(measured) if measured else None
    return {
        "command": "python -m vlmperf run CONFIG --out TMP  (endpoint, preset vllm, caption, builtin, 1 request)",
        "seconds": times,
        "median_s": median,
        "max_s": max(measured) if measured else None,
        "import_costs": _import_costs(),
        "pass": bool(median is not None and len(measured) == len(times) and median < STARTUP_LIMIT_S),
    }


# ---------------------------------------------------------------------------------------------- goal 5: the SDK


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
            f"  round {number + 1} ({entry['order']}): e2e p50 vlmperf {entry['vlmperf_floor']['e2e_ms']['p50']:.3f} ms, "
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


# ---------------------------------------------------------------------------------------------- report


def environment() -> dict[str, Any]:
    from vlmperf import __version__
    from vlmperf.runner.manifest import cpu_model, git_commit, package_version

    os.environ.setdefault("GIT_OPTIONAL_LOCKS", "0")
    facts: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": " ".join(["python", *sys.argv]),
        "vlmperf": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "aiohttp": package_version("aiohttp"),
        "openai": package_version("openai"),
        "httpx": package_version("httpx"),
        "httpx2": package_version("httpx2"),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "git": git_commit(REPO),
    }
    try:
        facts["load_average_start"] = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        facts["load_average_start"] = None
    return facts


def _f(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _yes(flag: bool | None) -> str:
    return "n/a" if flag is None else ("**pass**" if flag else "**FAIL**")


def markdown(report: dict[str, Any]) -> str:
    env, g = report["environment"], report["goals"]
    rates, tp, st, su, sdk = g["1_rate"], g["2_throughput"], g["3_streams"], g["4_startup"], g["5_sdk"]
    worst_step = max(rates["steps"], key=lambda s: s["lateness_ms"]["p99"] or 0)
    judged = st["variants"]["varied"]
    out = [
        "# Speed of the load generator (issue 4)",
        "",
        (
            f"vlmperf's endpoint client (Driver + aiohttp) in one process against `vlmperf.load.instant_server` in another, "
            f"on loopback; {env['cpu']} ({env['cpu_count']} cores). Overall: **{'PASS' if report['pass'] else 'FAIL'}**."
        ),
        "",
        "| goal | criterion | measured | result |",
        "|---|---|---|:---:|",
        (
            f"| 1. constant rate | sent rate within ±1% of 10–1,000/s, p99 lateness ≤ 2 ms | worst sent-rate error "
            f"{max(abs(s['sent_rate_error'] or 0) for s in rates['steps']) * 100:.2f}%; worst p99 lateness "
            f"{_f(worst_step['lateness_ms']['p99'], 3)} ms (at {worst_step['rate']:g}/s) | {_yes(rates['pass'])} |"
        ),
        (
            f"| 2. throughput | ≥ {SUSTAINED_RATE:,.0f}/s from one process: open loop achieved, best closed loop | open loop "
            f"{tp['open_loop']['rate']:,.0f}/s: achieved {_f(tp['open_loop']['achieved_rate'], 0)}/s (sent {_f(tp['open_loop']['sent_rate'], 1)}/s, "
            f"p99 lateness {_f(tp['open_loop']['lateness_ms']['p99'], 3)} ms); closed loop best {_f(tp['closed_loop_best']['achieved_rate'], 0)}/s "
            f"at {tp['closed_loop_best']['concurrency']} in flight | {_yes(tp['pass'])} |"
        ),
        (
            f"| 3. streams | {judged['streams']} concurrent streams, p99 chunk-timestamp lag ≤ {STREAM_LAG_P99_LIMIT_MS:g} ms | "
            f"lag p50 {_f(judged['lag_ms']['p50'], 3)} / p99 {_f(judged['lag_ms']['p99'], 3)} / max {_f(judged['lag_ms']['max'], 3)} ms over "
            f"{judged['chunks']:,} chunks ({judged['chunks_per_stream'][0]}–{judged['chunks_per_stream'][1]} per stream, "
            f"{st['interval_ms']:g} ms apart, {st['duration_s']:g} s). Not judged: equal lengths (all restart "
            f"together) p99 {_f(st['variants']['equal']['lag_ms']['p99'], 3)} ms; cyclic GC off "
            f"p99 {_f(st['variants']['varied_gc_off']['lag_ms']['p99'], 3)} ms | {_yes(st['pass'])} |"
        ),
        (
            f"| 4. startup | command to first request < 1 s | median {_f(su['median_s'], 3)} s, max {_f(su['max_s'], 3)} s "
            f"({len(su['seconds'])} runs) | {_yes(su['pass'])} |"
        ),
    ]
    if sdk.get("skipped"):
        out.append(f"| 5. OpenAI SDK | comparison | skipped: {sdk['skipped']} | n/a |")
    else:
        out.append(
            f"| 5. OpenAI SDK {sdk['openai']} | comparison, same workload | vlmperf/SDK e2e p50 {sdk['median_e2e_p50_ratio']:.3f}, "
            f"achieved req/s at {sdk['concurrency']} in flight {sdk['median_throughput_ratio']:.2f} (medians of {len(sdk['rounds'])} rounds) | n/a |"
        )
    out += [
        "",
        "Goal 1–2, open-loop steps (constant arrivals, no cap; lateness = start − deadline; loop lag = how late a 1 ms timer fires):",
        "",
        "| rate /s | s | requests | sent /s | achieved /s | lateness p50 / p99 / max ms | loop lag p50 / p99 / max ms | result |",
        "|---:|---:|---:|---:|---:|---|---|:---:|",
    ]
    for s in [*rates["steps"], tp["open_loop"]]:
        late, lag = s["lateness_ms"], s["loop_lag_ms"] or {}
        out.append(
            f"| {s['rate']:g} | {s['duration_s']:g} | {s['requests']} | {_f(s['sent_rate'])} | {_f(s['achieved_rate'])} "
            f"| {_f(late['p50'], 3)} / {_f(late['p99'], 3)} / {_f(late['max'], 3)} "
            f"| {_f(lag.get('p50'), 3)} / {_f(lag.get('p99'), 3)} / {_f(lag.get('max'), 3)} | {_yes(s['pass'])} |"
        )
    out += [
        "",
        (
            "Achieved = completed / (first start → last end); at n requests it is n/(n−1) of the sent rate by construction, "
            "so the ±1% test is on the sent rate."
        ),
        "",
        "Goal 2, closed loop (`concurrent` scenario):",
        "",
        "| in flight | requests | achieved /s | e2e p50 / p99 ms | loop lag p99 ms |",
        "|---:|---:|---:|---|---:|",
    ]
    for c in tp["closed_loop"]:
        out.append(
            f"| {c['concurrency']} | {c['requests']} | {_f(c['achieved_rate'], 0)} | {_f(c['e2e_ms']['p50'], 3)} / "
            f"{_f(c['e2e_ms']['p99'], 3)} | {_f(c['loop_lag_ms']['p99'], 3)} |"
        )
    out += [
        "",
        "Goal 3, chunk-timestamp lag (client arrival − server write, perf_counter_ns in both processes):",
        "",
        (
            "| streams | in flight | requests | chunks | lag p50 / p99 / max ms | server gap p50 / p99 ms | loop lag p99 ms "
            "| GC pauses > 5 ms (longest ms) | result |"
        ),
        "|---|---:|---:|---:|---|---|---:|---:|:---:|",
    ]
    for v in st["variants"].values():
        out.append(
            f"| {v['label']} | {v['max_in_flight']} | {v['requests']} | {v['chunks']:,} | {_f(v['lag_ms']['p50'], 3)} / "
            f"{_f(v['lag_ms']['p99'], 3)} / {_f(v['lag_ms']['max'], 3)} | {_f(v['server_interval_ms']['p50'], 2)} / "
            f"{_f(v['server_interval_ms']['p99'], 2)} | {_f(v['loop_lag_ms']['p99'], 3)} | "
            f"{v['gc_pauses']['over_5ms']} ({max(g['max_ms'] for k, g in v['gc_pauses'].items() if k.startswith('gen')):.1f}) | "
            f"{_yes(v['pass']) if v['judged'] else 'not judged (' + ('pass' if v['pass'] else 'over') + ')'} |"
        )
    out += [
        "",
        f"Goal 4, `{su['command']}`: " + ", ".join(_f(t, 3) for t in su["seconds"]) + " s. Biggest imports of "
        "`vlmperf.cli` (cumulative ms): "
        + ", ".join(f"{r['module']} {r['cumulative_ms']:.0f}" for r in su["import_costs"][:6])
        + ".",
    ]
    if not sdk.get("skipped"):
        out += [
            "",
            (
                f"Goal 5, OpenAI SDK {sdk['openai']} (`AsyncOpenAI(...).chat.completions.create(stream=True)`) against vlmperf's "
                f"client, same server, order alternating per round; floor = {sdk['floor_requests']} single-stream requests, "
                f"throughput = {sdk['concurrency']} in flight for {sdk['duration_s']:g} s:"
            ),
            "",
            "| round | order | e2e p50 ms vlmperf / SDK | ratio | achieved /s vlmperf / SDK | ratio |",
            "|---:|---|---|---:|---|---:|",
        ]
        for i, r in enumerate(sdk["rounds"], 1):
            out.append(
                f"| {i} | {r['order']} | {_f(r['vlmperf_floor']['e2e_ms']['p50'], 3)} / {_f(r['sdk_floor']['e2e_ms']['p50'], 3)} "
                f"| {r['e2e_p50_ratio']:.3f} | {_f(r['vlmperf_closed']['achieved_rate'], 0)} / {_f(r['sdk_closed']['achieved_rate'], 0)} "
                f"| {r['throughput_ratio']:.2f} |"
            )
        out.append(f"| median | | | {sdk['median_e2e_p50_ratio']:.3f} | | {sdk['median_throughput_ratio']:.2f} |")
    git = env.get("git") or {}
    out += [
        "",
        (
            f"Environment: {env['date']}; `{env['command']}`; Python {env['python']}, aiohttp {env['aiohttp']}, "
            f"openai {env['openai']}; {env['cpu']} ({env['cpu_count']} cores); load average {env.get('load_average_start')} → "
            f"{env.get('load_average_end')}; commit {git.get('commit', '?')[:12]}{' (dirty)' if git.get('dirty') else ''}. "
            f"Took {report['wall_s']:.0f} s."
        ),
        "",
    ]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    env = environment()
    started = time.perf_counter()
    goals: dict[str, Any] = {}
    with InstantServer() as base_url:
        for key, label, fn in (
            ("1_rate", "goal 1: constant rate", goal_rates),
            ("2_throughput", "goal 2: throughput", goal_throughput),
            ("3_streams", "goal 3: concurrent streams", goal_streams),
            ("4_startup", "goal 4: startup", goal_startup),
            ("5_sdk", "goal 5: OpenAI SDK", goal_sdk),
        ):
            print(label, flush=True)
            t0 = time.perf_counter()
            goals[key] = fn(base_url, args)
            goals[key]["wall_s"] = time.perf_counter() - t0
    try:
        env["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        env["load_average_end"] = None
    judged = [g["pass"] for g in goals.values() if g["pass"] is not None]
    report = {
        "issue": 4,
        "environment": env,
        "settings": vars(args) | {"out": str(args.out)},
        "criteria": {
            "rate_tolerance": RATE_TOLERANCE,
            "lateness_p99_limit_ms": LATENESS_P99_LIMIT_MS,
            "sustained_rate": SUSTAINED_RATE,
            "stream_lag_p99_limit_ms": STREAM_LAG_P99_LIMIT_MS,
            "startup_limit_s": STARTUP_LIMIT_S,
        },
        "goals": goals,
        "pass": all(judged),
        "wall_s": time.perf_counter() - started,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "load_generator.json").write_text(json.dumps(report, indent=2) + "\n")
    (args.out / "load_generator.md").write_text(markdown(report))
    print(markdown(report))
    return 0 if report["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
