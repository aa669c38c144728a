"""Does typing a cell's summary cost anything? Summarising before and after, side by side.

A cell's summary is typed with TypedDicts (`vlmperf.metrics.summary_types`), which are plain dicts at
run time, so summarising should cost exactly what it did. This measures it in one process: it loads
`metrics/summary.py` and `metrics/cell_summary.py` as they were at a base revision (`git show`) beside
the current ones, checks that both give byte-identical JSON for the same records, and times two
conditions on each side, interleaved in a seeded random order per round (DESIGN.md's measurement rules):

- `cell`: `summarize_records` over one cell of synthetic local records (`--records` generate calls of
  batch `--batch`: every local metric, bootstraps included);
- `small`: `summarize` of 4 values (below the bootstrap's minimum), `--calls` times: the per-call cost
  of building one entry, where a heavier entry type (a dataclass, validation) would show first.

Figures: each side's median per round, and the median of the paired ratios (current / base) with a
percentile bootstrap 95% interval. A few seconds to a minute on 2 cores:

    python benchmarks/summary_speed.py [--base main] [--records 200] [--rounds 30] [--out benchmarks/results]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import orjson

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))

import vlmperf.metrics.summary as current_summary  # noqa: E402
from vlmperf.metrics.cell_summary import summarize_records  # noqa: E402


def git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=True).stdout


def base_modules(rev: str) -> tuple[types.ModuleType, types.ModuleType]:
    """summary.py and cell_summary.py as they were at `rev`, the latter reading the former (not today's)."""
    summary = types.ModuleType("base_summary")
    exec(compile(git("show", f"{rev}:src/vlmperf/metrics/summary.py"), f"{rev}:summary.py", "exec"), summary.__dict__)
    cell = types.ModuleType("base_cell_summary")
    sys.modules["vlmperf.metrics.summary"] = summary  # its `from vlmperf.metrics.summary import summarize`
    try:
        source = git("show", f"{rev}:src/vlmperf/metrics/cell_summary.py")
        exec(compile(source, f"{rev}:cell_summary.py", "exec"), cell.__dict__)
    finally:
        sys.modules["vlmperf.metrics.summary"] = current_summary
    return summary, cell


def local_records(count: int, batch: int, seed: int) -> list[dict[str, Any]]:
    """Records shaped as the local backend stores them (the fields the local metrics read), random values."""
    rng = np.random.default_rng(seed)
    records = []
    for _ in range(count):
        latency = float(rng.uniform(0.05, 0.2))
        steps = int(rng.integers(2, 17))
        records.append(
            {
                "batch_size": batch,
                "latency_s": latency,
                "ttft_s": latency / steps,
                "decode_steps": steps,
                "preprocess_s": float(rng.uniform(0.001, 0.01)),
                "peak_memory_bytes": int(rng.integers(10**6, 10**7)),
                "input_tokens": rng.integers(30, 60, batch).tolist(),
                "vision_tokens": [16] * batch,
                "output_tokens": rng.integers(1, steps + 1, batch).tolist(),
                "truncated_tokens": [0] * batch,
                "outputs": ["a photo of a cat on a mat"] * batch,
                "captions": [1] * batch,
            }
        )
    return records


def timed(work: Callable[[], object]) -> float:
    started = time.perf_counter_ns()
    work()
    return (time.perf_counter_ns() - started) / 1e9


def bootstrap_median(values: np.ndarray, seed: int) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    medians = np.median(rng.choice(values, size=(2000, values.size), replace=True), axis=1)
    low, high = np.percentile(medians, [2.5, 97.5])
    return float(low), float(high)


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def markdown(results: dict[str, Any]) -> str:
    lines = [
        "# Summarising a cell, before and after its summary was typed",
        "",
        f"Base `{results['base']}` against the working tree (commit {results['commit'][:10]}); "
        f"{results['rounds']} rounds, sides interleaved in a seeded random order. Same JSON bytes on both "
        f"sides: **{results['same_json']}**.",
        "",
        "| condition | base median s | current median s | median ratio current/base | 95% CI |",
        "|---|---:|---:|---:|---|",
    ]
    for name, figures in results["conditions"].items():
        low, high = figures["ratio_ci95"]
        lines.append(
            f"| {name} ({figures['what']}) | {figures['base_median_s']:.4g} | {figures['current_median_s']:.4g} "
            f"| {figures['ratio_median']:.3f} | [{low:.3f}, {high:.3f}] |"
        )
    lines += [
        "",
        f"`{results['command']}` on {results['date']}; python {results['python']}, numpy {results['numpy']}, "
        f"{results['cpus']} CPUs, load average before {results['loadavg']}.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", default="main", help="the revision before the summary types")
    parser.add_argument("--records", type=int, default=200)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--seed", type=int, default=18)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    args = parser.parse_args(argv)

    base_summary, base_cell = base_modules(args.base)
    records = local_records(args.records, args.batch, args.seed)
    same_json = orjson.dumps(base_cell.summarize_records(records)) == orjson.dumps(summarize_records(records))
    small = [0.1, 0.2, 0.3, 0.4]
    conditions: dict[str, dict[str, Callable[[], object]]] = {
        "cell": {
            "base": lambda: base_cell.summarize_records(records),
            "current": lambda: summarize_records(records),
        },
        "small": {
            "base": lambda: [base_summary.summarize(small) for _ in range(args.calls)],
            "current": lambda: [current_summary.summarize(small) for _ in range(args.calls)],
        },
    }
    load = loadavg()
    for sides in conditions.values():  # warm-up
        for work in sides.values():
            work()
    rng = np.random.default_rng(args.seed)
    times: dict[str, dict[str, list[float]]] = {c: {"base": [], "current": []} for c in conditions}
    for _ in range(args.rounds):
        for condition in rng.permutation(list(conditions)):
            for side in rng.permutation(["base", "current"]):
                times[condition][side].append(timed(conditions[condition][side]))
    results: dict[str, Any] = {
        "base": args.base,
        "commit": git("rev-parse", "HEAD").strip(),
        "rounds": args.rounds,
        "same_json": same_json,
        "conditions": {},
        "command": " ".join(["python", "benchmarks/summary_speed.py", *(argv if argv is not None else sys.argv[1:])]),
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "loadavg": load,
    }
    what = {
        "cell": f"summarize_records, {args.records} records of batch {args.batch}",
        "small": f"{args.calls} x summarize of 4 values",
    }
    for condition, sides in times.items():
        base, current = np.asarray(sides["base"]), np.asarray(sides["current"])
        ratios = current / base
        results["conditions"][condition] = {
            "what": what[condition],
            "base_median_s": float(np.median(base)),
            "current_median_s": float(np.median(current)),
            "ratio_median": float(np.median(ratios)),
            "ratio_ci95": bootstrap_median(ratios, args.seed),
            "base_s": sides["base"],
            "current_s": sides["current"],
        }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "summary_speed.json").write_text(json.dumps(results, indent=2) + "\n")
    (args.out / "summary_speed.md").write_text(markdown(results))
    print(markdown(results))
    return 0 if same_json else 1


if __name__ == "__main__":
    raise SystemExit(main())
