"""Goals 1 and 2 of the load-generator benchmark (`load_generator.py`): open-loop rate steps from 10 to
1,000 requests/s judged on sent rate, scheduler lateness and errors (`calibrate.rate_step`), and
sustained throughput from one process: an open-loop step at the high rate plus closed-loop
`concurrent` runs at each concurrency level, the best of which must reach it.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from load_generator_common import LATENESS_P99_LIMIT_MS, RATE_TOLERANCE, _closed_loop, _ms, achieved, pct_ms

from vlmperf.config.spec import Measure
from vlmperf.load.calibrate import _request, rate_step


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
