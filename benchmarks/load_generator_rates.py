"""Goals 1 and 2 of the load-generator benchmark (`load_generator.py`), through `vlmperf run`.

Goal 1: open-loop constant rates from 10 to 2,000 requests/s, one cell per rate in one run, each
cell a fixed number of requests (`--step-s` seconds' worth, at least `--min-requests`). A rate
holds when the rate requests were *sent* at ((n - 1) / (last start - first start)) is within 1% of
it, p99 scheduler lateness (start - scheduled time) is at most 1 ms and no request failed.
Goal 2: closed-loop `concurrent` cells at each `--concurrency` level for `--closed-s` seconds; the
best achieved rate (completed requests / first start to last end) must reach 5,000 requests/s.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from load_generator_cli import StoredCell, run_vlmperf
from load_generator_common import CLOSED_LOOP_RATE, LATENESS_P99_LIMIT_MS, RATE_TOLERANCE, _ms, achieved, pct_ms

WORKLOAD = "workload: {task: vqa, source: procedural, limit: 8, image_size: 32}\n"
"""Eight small procedural images (32 px JPEGs): bodies of about 1.5 kB, so the client, not the
upload or the server's JSON parsing, is what the goals measure."""


def _target(base_url: str) -> str:
    return f"target: {{kind: endpoint, preset: vllm, model: instant, base_url: '{base_url}'}}\n"


def _sent_rate(records: list[dict[str, Any]]) -> float | None:
    starts = sorted(r["started_s"] for r in records)
    return (len(starts) - 1) / (starts[-1] - starts[0]) if len(starts) > 1 and starts[-1] > starts[0] else None


def _rate_step(cell: StoredCell) -> dict[str, Any]:
    rate = cell.swept["scenario.rate"]
    records = cell.records
    sent = _sent_rate(records)
    lateness = pct_ms([r["started_s"] - r["scheduled_s"] for r in records])
    errors = sum(r["error"] is not None for r in records)
    sent_ok = sent is not None and abs(sent / rate - 1) <= RATE_TOLERANCE
    return {
        "rate": rate,
        "status": cell.status,
        "requests": len(records),
        "sent_rate": sent,
        "sent_rate_error": None if sent is None else sent / rate - 1,
        "achieved_rate": achieved(records),
        "errors": errors,
        "lateness_ms": lateness,
        "loop_lag_ms": _ms(cell.info.get("event_loop_lag_s")),
        "pass": bool(
            cell.status == "ok" and sent_ok and errors == 0 and (lateness["p99"] or 0) <= LATENESS_P99_LIMIT_MS
        ),
    }


def goal_rates(base_url: str, args: argparse.Namespace, mode: str, folder: Path) -> dict[str, Any]:
    cells = "".join(
        f"    - {{scenario.rate: {rate:g}, measure.min_runs: {n}, measure.max_runs: {n}}}\n"
        for rate in args.rates
        for n in [max(args.min_requests, round(rate * args.step_s))]
    )
    config = (
        "name: bench-rates\n" + _target(base_url) + WORKLOAD + "scenario: {kind: rate, rate: 1}\n"
        "measure: {warmup_runs: 1, min_duration_s: 0, every_sample: false}\n"
        "sweep:\n  cells:\n" + cells
    )
    run = run_vlmperf(config, mode, folder)
    steps = [_rate_step(cell) for cell in run.cells]
    for s in steps:
        print(
            f"  [{mode}] rate {s['rate']:g}/s: sent {s['sent_rate'] or 0:.2f}/s, lateness p99 "
            f"{s['lateness_ms']['p99'] or 0:.3f} ms, {'pass' if s['pass'] else 'FAIL'}",
            flush=True,
        )
    judged = run.returncode == 0 and len(steps) == len(args.rates)
    return {
        "run": run.facts(),
        "steps": steps,
        "pass": bool(judged and all(s["pass"] for s in steps)),
        **({} if judged else {"output_tail": run.output_tail}),
    }


def goal_throughput(base_url: str, args: argparse.Namespace, mode: str, folder: Path) -> dict[str, Any]:
    cells = "".join(f"    - {{scenario.concurrency: {c}}}\n" for c in args.concurrency)
    config = (
        "name: bench-closed-loop\n" + _target(base_url) + WORKLOAD + "scenario: {kind: concurrent, concurrency: 1}\n"
        f"measure: {{warmup_runs: 1, min_runs: 1, max_runs: 100000000, min_duration_s: {args.closed_s:g}, "
        "every_sample: false}\n"
        "sweep:\n  cells:\n" + cells
    )
    run = run_vlmperf(config, mode, folder)
    levels = []
    for cell in run.cells:
        ok = [r for r in cell.records if r["error"] is None]
        levels.append(
            {
                "concurrency": cell.swept["scenario.concurrency"],
                "status": cell.status,
                "requests": len(cell.records),
                "errors": len(cell.records) - len(ok),
                "achieved_rate": achieved(cell.records),
                "e2e_ms": pct_ms([r["e2e_s"] for r in ok]),
                "loop_lag_ms": _ms(cell.info.get("event_loop_lag_s")),
            }
        )
        print(
            f"  [{mode}] closed loop {levels[-1]['concurrency']}: {levels[-1]['achieved_rate'] or 0:.0f}/s", flush=True
        )
    best = max(levels, key=lambda c: c["achieved_rate"] or 0, default=None)
    best_rate = (best or {}).get("achieved_rate") or 0
    return {
        "run": run.facts(),
        "closed_loop": levels,
        "best": best,
        "pass": bool(
            run.returncode == 0 and best is not None and best["errors"] == 0 and best_rate >= CLOSED_LOOP_RATE
        ),
        **({} if run.returncode == 0 else {"output_tail": run.output_tail}),
    }
