"""Goal 3 of the load-generator benchmark (`load_generator.py`), through `vlmperf run`: many concurrent
paced streams from the instant server, each content chunk carrying the server's `perf_counter_ns()`
when it wrote it, and the lag of the client's arrival stamp behind it, for every chunk.

The server paces a stream when its body asks (`target.extra_body: {paced: ...}`, see
`vlmperf.backends.endpoint.load.instant_server`). A chunk's client arrival is rebuilt from the stored record and its
cell's clock (`info.clock.epoch_perf_counter_ns` + started_s + ttft_s, then the inter-token gaps);
perf_counter is CLOCK_MONOTONIC on Linux, one clock for both processes. Three cells in one run:
- `varied` (judged): stream lengths vary over `--chunks` +/- `--chunk-spread` in a seeded order,
  as a real server's answers do, so requests end and restart spread over time;
- `equal` (reported): every stream the same length, so all 256 end and restart in one burst;
- `aligned` (reported): varied lengths with every chunk on one shared grid, so all streams write
  in the same instant, as a server decoding one batch would.
Each cell warms up with as many requests as it has streams (`warmup_runs`), sent at once, so its
connections are open before the measured window, as a user measuring 256 streams would set it.

Beside the runs, `floor` measures the `varied` streams the leanest way this machine allows: the
Driver in the benchmark's own process, no store, no display, no summary (not judged). The
difference between a run's lag and the floor's is what vlmperf's own harness adds; the floor
itself is the machine's (2 shared cores, the server on them too).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
from pathlib import Path
from typing import Any

import orjson
from load_generator_cli import StoredCell, run_vlmperf
from load_generator_common import STREAM_LAG_P99_LIMIT_MS, _closed_loop, _ms, achieved, pct_ms
from load_generator_rates import WORKLOAD, _target

from vlmperf.backends.endpoint.requests import PreparedRequest
from vlmperf.config.spec import Measure

VARIANTS = (
    ("varied", "lengths varied, each stream on its own schedule", True),
    ("equal", "equal lengths: all streams end and restart together", False),
    ("aligned", "lengths varied, chunks on one grid (a batch)", False),
)


def _paced(key: str, args: argparse.Namespace) -> str:
    spread = 0 if key == "equal" else args.chunk_spread
    aligned = "true" if key == "aligned" else "false"
    return (
        f"{{paced: {{chunks: {args.chunks}, spread: {spread}, seed: {args.seed}, "
        f"interval_ms: {args.interval_ms:g}, aligned: {aligned}}}}}"
    )


def _chunk_lags(records: list[dict[str, Any]], epoch_ns: int) -> tuple[list[int], list[int], int]:
    """(client arrival - server stamp per chunk, server gaps, records whose chunks do not match), ns."""
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
        lags_ns += [round(a) - s for a, s in zip(arrivals, stamps, strict=True)]
        server_gaps_ns += [b - a for a, b in itertools.pairwise(stamps)]
    return lags_ns, server_gaps_ns, mismatched


def _lags(cell: StoredCell, streams: int) -> dict[str, Any]:
    lags_ns, server_gaps_ns, mismatched = _chunk_lags(cell.records, cell.info["clock"]["epoch_perf_counter_ns"])
    lengths = [len(r["outputs"][0].split()) for r in cell.records if r["error"] is None]
    result = {
        "status": cell.status,
        "chunks_per_stream": [min(lengths, default=0), max(lengths, default=0)],
        "requests": len(cell.records),
        "errors": sum(r["error"] is not None for r in cell.records),
        "max_in_flight": max((r["in_flight"] for r in cell.records), default=0),
        "chunks": len(lags_ns),
        "records_with_unmatched_chunks": mismatched,
        "lag_ms": pct_ms([x / 1e9 for x in lags_ns]),
        "negative_lags": sum(x < 0 for x in lags_ns),
        "server_interval_ms": pct_ms([g / 1e9 for g in server_gaps_ns]),
        "loop_lag_ms": _ms(cell.info.get("event_loop_lag_s")),
        "achieved_rate": achieved(cell.records),
    }
    result["pass"] = bool(
        cell.status == "ok"
        and result["errors"] == 0
        and mismatched == 0
        and result["max_in_flight"] >= streams
        and result["lag_ms"]["p99"] is not None
        and result["lag_ms"]["p99"] <= STREAM_LAG_P99_LIMIT_MS
    )
    return result


def floor(base_url: str, args: argparse.Namespace) -> dict[str, Any]:
    """The `varied` streams through the Driver in this process: no store, no display, no summary."""
    paced = {"chunks": args.chunks, "spread": args.chunk_spread, "seed": args.seed, "interval_ms": args.interval_ms}
    body = {"model": "instant", "messages": [{"role": "user", "content": "hi"}], "stream": True, "paced": paced}
    measure = Measure(
        warmup_runs=args.streams,
        min_runs=args.streams,
        max_runs=100_000_000,
        min_duration_s=args.stream_s,
        every_sample=False,
    )
    records, epoch_ns, loop_lags = asyncio.run(
        _closed_loop(base_url, [PreparedRequest("floor", orjson.dumps(body), 0, 0, 0)], args.streams, measure)
    )
    lags_ns, _, mismatched = _chunk_lags(records, epoch_ns)
    lag = pct_ms([x / 1e9 for x in lags_ns])
    print(
        f"  [floor] {args.streams} streams, in this process, nothing stored: lag p50 {lag['p50'] or 0:.3f} "
        f"p99 {lag['p99'] or 0:.3f} ms (not judged)",
        flush=True,
    )
    return {
        "requests": len(records),
        "chunks": len(lags_ns),
        "records_with_unmatched_chunks": mismatched,
        "lag_ms": lag,
        "loop_lag_ms": pct_ms(loop_lags),
    }


def goal_streams(base_url: str, args: argparse.Namespace, mode: str, folder: Path) -> dict[str, Any]:
    # Cells equal but for their target share one time window; a workload seed of their own keeps
    # the variants apart (each its own 256 streams), changing nothing but which procedural images go.
    cells = "".join(
        f"    - {{target.label: {key}, target.extra_body: {_paced(key, args)}, workload.seed: {number}}}\n"
        for number, (key, _, _) in enumerate(VARIANTS)
    )
    config = (
        "name: bench-streams\n"
        + _target(base_url)
        + WORKLOAD
        + f"scenario: {{kind: concurrent, concurrency: {args.streams}}}\n"
        f"measure: {{warmup_runs: {args.streams}, min_runs: {args.streams}, max_runs: 100000000, "
        f"min_duration_s: {args.stream_s:g}, "
        "every_sample: false}\n"
        "sweep:\n  cells:\n" + cells
    )
    run = run_vlmperf(config, mode, folder)
    variants: dict[str, Any] = {}
    described = {key: (label, judged) for key, label, judged in VARIANTS}
    for cell in run.cells:
        key = cell.swept["target.label"]
        label, judged = described[key]
        variants[key] = _lags(cell, args.streams) | {"label": label, "judged": judged}
        lag = variants[key]["lag_ms"]
        print(
            f"  [{mode}] {args.streams} streams, {label}: lag p50 {lag['p50'] or 0:.3f} p99 {lag['p99'] or 0:.3f} "
            f"max {lag['max'] or 0:.3f} ms" + ("" if judged else " (not judged)"),
            flush=True,
        )
    complete = run.returncode == 0 and len(variants) == len(VARIANTS)
    return {
        "run": run.facts(),
        "chunks": args.chunks,
        "chunk_spread": args.chunk_spread,
        "interval_ms": args.interval_ms,
        "duration_s": args.stream_s,
        "variants": variants,
        "pass": bool(complete and variants["varied"]["pass"]),
        **({} if complete else {"output_tail": run.output_tail}),
    }
