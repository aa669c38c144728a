"""Goal 3 of the load-generator benchmark (`load_generator.py`): many concurrent paced streams from the
instant server, each chunk carrying the server's `perf_counter_ns()` send stamp, and the lag of
every chunk's client arrival stamp behind it; run in several variants (varied lengths, judged; equal
lengths and one shared chunk grid, reported only), each logging the garbage collector's pauses
(`GcPauses`: the driver turns the collector off for its measured window, so these should be the
warm-up's only).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import itertools
import random
import time
from typing import Any, Self

from load_generator_common import STREAM_LAG_P99_LIMIT_MS, _closed_loop, _prepared, achieved, pct_ms

from vlmperf.config.spec import Measure


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


def _stream_lags(
    base_url: str, args: argparse.Namespace, *, spread: int, aligned: bool
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
    with GcPauses() as pauses:
        records, epoch_ns, loop_lags = asyncio.run(_closed_loop(base_url, requests, args.streams, measure, warmup=warm))
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
)


def goal_streams(base_url: str, args: argparse.Namespace) -> dict[str, Any]:
    variants = {}
    for key, label, judged in STREAM_VARIANTS:
        spread = 0 if key == "equal" else args.chunk_spread
        variants[key] = _stream_lags(
            base_url, args, spread=spread, aligned=key == "aligned"
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
