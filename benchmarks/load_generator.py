"""Speed of the load generator (issues 4 and 14): `vlmperf run` itself, against a loopback server that answers at once.

The server is `vlmperf.backends.endpoint.load.instant_server` in its own process (`calibrate.InstantServer`), so it
shares neither the client's event loop nor its GIL. Goals 1-3 run the real command, `python -m
vlmperf run CONFIG`, in a process of its own, with everything a user's run does: the store writes
every record (from its writer thread), the cells are summarised and scored, and the progress bar
is drawn. Each of them runs in two modes (`load_generator_cli`): with output to a pipe, and inside a
pseudo terminal where rich draws the live progress bar (its redraws are counted), `--repeats`
times, the modes interleaved (their order alternating); a goal holds in a mode when most of its
repeats pass (on a shared 2-core machine one run in a few meets a noisy neighbour). The figures
are read back from the store each run wrote.

1. Constant rate held from 10 to 2,000 requests/s: open-loop cells at each `--rates` step, each at
   least `--step-s` seconds and `--min-requests` requests. A step holds when the rate requests
   were *sent* at ((n - 1) / (last start - first start)) is within 1% of the target, p99 scheduler
   lateness (start - scheduled time) is at most 1 ms and no request failed. The *achieved* rate
   (completed requests / first start to last end, `load_figures`' definition) is reported beside
   it; at n requests it reads n / (n - 1) of the sent rate by construction.
2. At least 5,000 requests/s from one client process: closed-loop `concurrent` cells
   (`--concurrency`, default 32 and 64 in flight, `--closed-s` seconds each); the best achieved
   rate must reach it, with no error.
3. 256 concurrent streams with p99 chunk-timestamp lag at most 2 ms: the server paces each
   stream (`target.extra_body: {paced: ...}`: N content chunks X ms apart, each carrying the
   server's `perf_counter_ns()` at its write); a chunk's lag is the client's arrival stamp, rebuilt
   from the stored record and the cell's `info.clock`, minus the server's stamp. Judged: stream
   lengths varied (`--chunks` +/- `--chunk-spread`, a seeded order), each cell warmed up with as
   many requests as streams. Reported: equal lengths (all streams end and restart in one burst),
   one shared chunk grid (all write in one instant), and the machine's floor (the Driver in this
   process, nothing stored or drawn) measured just before.
4. Under 1 s from the command to the first request: `python -m vlmperf run CONFIG` (endpoint
   target, preset vllm, base_url the instant server, caption task on the builtin samples, one
   single-stream request, no warm-up) as a subprocess, `--startup-repeats` times; the time runs
   from just before `Popen` to the server's arrival stamp of the first request (`GET /stats`), and
   the command is killed once that request arrived. The median must be under 1 s. `python -X
   importtime` of `vlmperf.cli` gives the import chain's biggest costs beside it.
5. The OpenAI Python SDK through the same workload, if `openai` is installed: single-stream floor
   (e2e p50) and closed-loop throughput at `--sdk-concurrency` in flight, `AsyncOpenAI` workers
   against the Driver's `concurrent` scenario in this process, `--sdk-rounds` rounds alternating
   which goes first; per-round ratios vlmperf / SDK and their median. A comparison, not judged.

This file holds the arguments, the environment record and the orchestration; the goals live beside
it in load_generator_rates.py (1, 2), load_generator_streams.py (3), load_generator_startup.py (4)
and load_generator_sdk.py (5), running the command in load_generator_cli.py, shared helpers in
load_generator_common.py and the markdown in load_generator_report.py.

Run from the repository root:  python benchmarks/load_generator.py [--out DIR]
Writes results/load_generator.json (every figure, settings, environment) and results/load_generator.md
(the short table). Exits 1 when a goal fails. About 9 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from load_generator_cli import MODES
from load_generator_common import (
    CLOSED_LOOP_RATE,
    HIGHEST_RATE,
    LATENESS_P99_LIMIT_MS,
    RATE_TOLERANCE,
    REPO,
    STARTUP_LIMIT_S,
    STREAM_LAG_P99_LIMIT_MS,
)
from load_generator_rates import goal_rates, goal_throughput
from load_generator_report import markdown
from load_generator_sdk import goal_sdk
from load_generator_startup import goal_startup
from load_generator_streams import floor, goal_streams

from vlmperf.backends.endpoint.load.calibrate import InstantServer


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--rates",
        type=float,
        nargs="+",
        default=[10, 100, 250, 500, 1000, HIGHEST_RATE],
        help="goal 1 rate steps, requests/s (default: 10 100 250 500 1000 2000)",
    )
    parser.add_argument("--step-s", type=float, default=3.0, help="shortest rate step, seconds (default: 3)")
    parser.add_argument("--min-requests", type=int, default=100, help="fewest requests per rate step (default: 100)")
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
    parser.add_argument(
        "--repeats",
        type=int,
        default=3,
        help="runs of goals 1-3 in each mode, interleaved; a goal holds when most pass (default: 3)",
    )
    parser.add_argument(
        "--modes",
        nargs="+",
        choices=MODES,
        default=list(MODES),
        help="how goals 1-3 run: output to a pipe, inside a pseudo terminal (default: both)",
    )
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


def environment() -> dict[str, Any]:
    from vlmperf import __version__
    from vlmperf.runner.manifest import cpu_model, git_commit, load_average, package_version

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
    facts["load_average_start"] = load_average()
    return facts


def majority(passes: list[bool]) -> dict[str, Any]:
    """A goal holds in a mode when more than half its repeats passed: the median run, not the luckiest
    or the unluckiest, on a machine whose neighbours come and go."""
    return {"passed": sum(passes), "repeats": len(passes), "pass": 2 * sum(passes) > len(passes)}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    env = environment()
    started = time.perf_counter()
    goals: dict[str, Any] = {}
    with InstantServer() as base_url, tempfile.TemporaryDirectory(prefix="vlmperf-loadgen-") as scratch:
        for key, label, fn in (
            ("1_rate", "goal 1: constant rate", goal_rates),
            ("2_throughput", "goal 2: closed-loop throughput", goal_throughput),
            ("3_streams", "goal 3: concurrent streams", goal_streams),
        ):
            print(label, flush=True)
            repeats = []
            for number in range(args.repeats):
                repeat: dict[str, Any] = {"floor": floor(base_url, args)} if key == "3_streams" else {}
                for mode in args.modes if number % 2 == 0 else args.modes[::-1]:  # neither mode always goes first
                    t0 = time.perf_counter()
                    repeat[mode] = fn(base_url, args, mode, Path(scratch) / f"{key}-{number}-{mode}")
                    repeat[mode]["wall_s"] = time.perf_counter() - t0
                repeats.append(repeat)
            goals[key] = {"repeats": repeats} | {
                mode: majority([r[mode]["pass"] for r in repeats]) for mode in args.modes
            }
            goals[key]["pass"] = all(goals[key][mode]["pass"] for mode in args.modes)
        for key, label, fn in (
            ("4_startup", "goal 4: startup", goal_startup),
            ("5_sdk", "goal 5: OpenAI SDK", goal_sdk),
        ):
            print(label, flush=True)
            t0 = time.perf_counter()
            goals[key] = fn(base_url, args)
            goals[key]["wall_s"] = time.perf_counter() - t0
    from vlmperf.runner.manifest import load_average

    env["load_average_end"] = load_average()
    judged = [g["pass"] for g in goals.values() if g["pass"] is not None]
    report = {
        "issue": 14,
        "environment": env,
        "settings": vars(args) | {"out": str(args.out)},
        "criteria": {
            "rate_tolerance": RATE_TOLERANCE,
            "lateness_p99_limit_ms": LATENESS_P99_LIMIT_MS,
            "highest_rate": HIGHEST_RATE,
            "closed_loop_rate": CLOSED_LOOP_RATE,
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
