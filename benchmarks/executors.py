"""What does isolating groups cost? The `process` and `ray` executors against `local`, on small cells.

One sweep of small cells with the built-in tiny model: 4 groups (attention eager/sdpa x dtype
fp32/bf16, each its own loaded model) x 2 batch sizes = 8 cells, 3 timed runs each, no FLOP pass,
one torch thread. The same sweep runs under each executor, each in a fresh results folder, the
executors' runs alternating in a seeded random order (`--repeats` rounds). A local Ray runtime is
started once before the timed runs (its start is timed apart), as on a cluster that is already up.

Figures: each executor's median wall time for the whole run, and its overhead against `local`:
(median wall - local's median wall) per group and per cell. A group is what an executor starts
(a child process, a Ray task), so the per-group figure is the one that scales.

Run from the repository root:  python benchmarks/executors.py [--repeats N] [--out DIR]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # loopback only, set before Ray is imported
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

REPO = Path(__file__).resolve().parent.parent
SWEEP = [
    "measure.min_runs=3",
    "measure.warmup_runs=1",
    "measure.min_duration_s=0",
    "measure.flops=false",
    "generation.max_new_tokens=8",
    "workload.limit=4",
    "target.threads=1",
    "sweep.grid.target.attn_implementation=[eager, sdpa]",
    "sweep.grid.target.dtype=[fp32, bf16]",
    "sweep.grid.scenario.batch_size=[1, 2]",
]
GROUPS, CELLS = 4, 8
EXECUTORS = ("local", "process", "ray")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs of the sweep per executor (default: 3)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the executors' order (default: 0)")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results", help="where the figures go")
    args = parser.parse_args(argv)

    import ray

    import vlmperf.api as vp

    started = time.perf_counter()
    ray.init(
        num_cpus=os.cpu_count(),
        _node_ip_address="127.0.0.1",
        include_dashboard=False,
        log_to_driver=False,
        configure_logging=False,
    )
    ray_start_s = time.perf_counter() - started
    vp.run(
        overrides=[*SWEEP, "sweep.grid.scenario.batch_size=[1]"], out=Path(tempfile.mkdtemp())
    )  # builds the model cache

    rng = random.Random(args.seed)
    walls: dict[str, list[float]] = {name: [] for name in EXECUTORS}
    for round_number in range(args.repeats):
        order = list(EXECUTORS)
        rng.shuffle(order)
        for name in order:
            with tempfile.TemporaryDirectory() as folder:
                began = time.perf_counter()
                outcome = vp.run(overrides=[*SWEEP, f"executor.kind={name}"], out=folder)
                walls[name].append(time.perf_counter() - began)
            if outcome.failed:
                raise SystemExit(f"{name}: {outcome.failed} cells failed in round {round_number}")
            print(f"round {round_number} {name}: {walls[name][-1]:.2f} s", flush=True)
    ray.shutdown()

    local = statistics.median(walls["local"])
    results = {
        "benchmark": "executors",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {
            "platform": platform.platform(),
            "python": sys.version.split()[0],
            "cpus": os.cpu_count(),
            "ray": ray.__version__,
        },
        "sweep": SWEEP,
        "groups": GROUPS,
        "cells": CELLS,
        "repeats": args.repeats,
        "ray_runtime_start_s": ray_start_s,
        "executors": {
            name: {
                "wall_s": walls[name],
                "median_wall_s": statistics.median(walls[name]),
                "overhead_per_group_s": (statistics.median(walls[name]) - local) / GROUPS,
                "overhead_per_cell_s": (statistics.median(walls[name]) - local) / CELLS,
            }
            for name in EXECUTORS
        },
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "executors.json").write_text(json.dumps(results, indent=2) + "\n")
    lines = [
        "# Executors: scheduling overhead against `local`",
        "",
        f"`python benchmarks/executors.py --repeats {args.repeats}`, {results['date']}, "
        f"{results['machine']['platform']}, {os.cpu_count()} CPUs, Ray {ray.__version__}. "
        f"Sweep: {GROUPS} groups x 2 batch sizes = {CELLS} cells of the "
        "built-in tiny model, 3 timed runs each. A local Ray runtime was started before the timed runs "
        f"({ray_start_s:.1f} s to start).",
        "",
        "| executor | median wall s | runs (s) | overhead per group s | overhead per cell s |",
        "|---|---|---|---|---|",
    ]
    for name, row in results["executors"].items():
        runs = ", ".join(f"{w:.1f}" for w in row["wall_s"])
        lines.append(
            f"| {name} | {row['median_wall_s']:.2f} | {runs} | {row['overhead_per_group_s']:+.2f} | "
            f"{row['overhead_per_cell_s']:+.2f} |"
        )
    lines += [
        "",
        "`process`: each group is a fresh Python process that imports torch and transformers and loads "
        "its model again, one group at a time: the price of isolation, paid once per group, not per timed run. "
        "`ray`: tasks run on worker processes Ray keeps (torch stays imported after a worker's first task) and, "
        "with one CPU asked per task, as many groups at once as the node has CPUs; here 2 groups ran side by "
        "side, which is why it can beat `local` on wall time. On a GPU cluster each group holds its GPUs, so "
        "the speed-up is the number of GPUs.",
    ]
    (args.out / "executors.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
