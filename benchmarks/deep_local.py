"""The deep local figures, checked end to end through `vlmperf run` on CPU (issue 5's "done when").

Three runs, each through the public API exactly as a user makes them:

1. A scaled llava-1.5-7b replica (full widths, 1 text + 1 vision layer, random weights, fp32) at
   batch sizes 1 and 2, with FLOPs and the module profile: per timed run, the counted FLOPs
   against the analytic count from the config (goal: within 2%), and the stage breakdown against
   the measured latency (goal: vision + projector + prefill + decode within 5% of latency_s;
   `generate_overhead_s` is the rest); the top layer classes per batch size.
2. The same for the built-in tiny model, where generate's own per-step work is a large share.
3. The built-in model with its optimisations as cells of one run: torch.compile (mode default) and
   prompt-lookup speculative decoding against plain decoding, reference = the plain cell, so
   `agreement_vs_reference` says whether greedy outputs stayed equal (goal: 1.0), with compile_s,
   recompiles during timed runs (goal: 0) and the acceptance rate.

Latency ratios between cells of different targets are not quoted: they load different models and
run one after the other, not interleaved (see DESIGN.md's measurement rules).

Run from the repository root:  python benchmarks/deep_local.py [--out benchmarks/results]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import vlmperf.api as vp
from vlmperf.backends.local.presets import LLAVA_15_7B, TINY_LLAVA
from vlmperf.backends.local.replica import scaled_config
from vlmperf.meters.analytic_flops import analytic_generate_flops
from vlmperf.report.module_profile import render_module_profile_markdown, run_profiles
from vlmperf.runner.manifest import cpu_model, git_commit, load_average

FIXED = ["generation.mode=fixed", "measure.min_duration_s=0", "measure.warmup_runs=1"]


def _records(run_id: str, out: Path) -> list[dict[str, Any]]:
    return vp.records_frame(run_id, out=out).to_dict("records")


def check_flops_and_stages(config: dict[str, Any], run_id: str, out: Path) -> dict[str, Any]:
    """Worst counted/analytic FLOP difference and the stage shares of latency, over every timed run."""
    flop_errors, covered, overhead = [], [], []
    for record in _records(run_id, out):
        rows = len(record["input_tokens"])
        expected = analytic_generate_flops(
            config,
            batch_size=rows,
            prompt_length=max(record["input_tokens"]),
            decode_steps=record["decode_steps"] - 1,
            images=rows,
        )
        counted = record["flops"]
        if counted is None:
            flop_errors.append(float("inf"))  # no count is a failed check, not a skipped one
            continue
        flop_errors.append(abs(counted["prefill"] + counted["decode"] - expected.total()) / expected.total())
        stages = record["stages"]
        hooked = sum(stages[k] for k in ("vision_s", "projector_s", "prefill_s", "decode_s"))
        covered.append(hooked / record["latency_s"])
        overhead.append(stages["generate_overhead_s"] / record["latency_s"])
    return {
        "timed_runs": len(covered),
        "flops_max_relative_error": max(flop_errors),
        "flops_pass": max(flop_errors) <= 0.02,
        "stage_sum_share_of_latency_min": min(covered),
        "stage_sum_share_of_latency_median": sorted(covered)[len(covered) // 2],
        "generate_overhead_share_median": sorted(overhead)[len(overhead) // 2],
        "stages_within_5pct": min(covered) >= 0.95,
    }


def cell_rows(document: dict[str, Any], keys: list[str], metrics: list[tuple[str, str]]) -> list[dict[str, Any]]:
    rows = []
    for cell in document["cells"]:
        row = {k: cell["config"].get(k) for k in keys}
        row["status"] = cell["status"]
        for name, stat in metrics:
            row[f"{name}.{stat}"] = (cell["metrics"].get(name) or {}).get(stat)
        rows.append(row)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args()
    started = time.perf_counter()
    load_before = load_average()
    store = Path(tempfile.mkdtemp(prefix="vlmperf-deep-"))
    results: dict[str, Any] = {}
    profiles_md = []

    replica = [
        "target.model=llava-1.5-7b",
        "target.no_weights=true",
        "target.text_layers=1",
        "target.vision_layers=1",
        "measure.min_runs=2",
        "generation.max_new_tokens=8",
        "workload.limit=2",
        "measure.profile=true",
        "sweep.grid.scenario.batch_size=[1, 2]",
        *FIXED,
    ]
    tiny = [
        "measure.min_runs=5",
        "generation.max_new_tokens=16",
        "workload.limit=4",
        "measure.profile=true",
        "sweep.grid.scenario.batch_size=[1, 2]",
        *FIXED,
    ]
    for name, overrides, config in (
        (
            "llava-1.5-7b replica (1+1 layers)",
            replica,
            scaled_config(LLAVA_15_7B.config, text_layers=1, vision_layers=1),
        ),
        ("built-in tiny llava", tiny, TINY_LLAVA.config),
    ):
        outcome = vp.run(overrides=overrides, out=store)
        document = vp.report(outcome.run_id, out=store)
        results[name] = {
            "checks": check_flops_and_stages(config, outcome.run_id, store),
            "cells": cell_rows(
                document,
                ["scenario.batch_size"],
                [
                    ("latency_s", "p50"),
                    ("vision_s", "p50"),
                    ("projector_s", "p50"),
                    ("prefill_s", "p50"),
                    ("decode_s", "p50"),
                    ("generate_overhead_s", "p50"),
                    ("flops", "mean"),
                    ("flops_per_s", "p50"),
                ],
            ),
        }
        profiles_md.append(f"#### {name}\n\n" + render_module_profile_markdown(run_profiles(document), top=8))

    optimisations = [
        "measure.min_runs=5",
        "generation.max_new_tokens=16",
        "workload.limit=4",
        *FIXED,
        "measure.warmup_runs=2",
        "sweep.cells=[{}, {target.compile: default}, {target.speculative: prompt-lookup, target.draft_tokens: 3}]",
        'reference={target.compile: "off", target.speculative: "off", target.draft_tokens: null}',
        "sweep.grid.scenario.batch_size=[1]",
    ]
    outcome = vp.run(overrides=optimisations, out=store)
    document = vp.report(outcome.run_id, out=store)
    results["optimisations (built-in tiny llava)"] = {
        "cells": cell_rows(
            document,
            ["target.compile", "target.speculative"],
            [
                ("latency_s", "p50"),
                ("compile_s", "value"),
                ("recompiles", "max"),
                ("acceptance_rate", "mean"),
                ("mean_accepted_tokens", "mean"),
                ("agreement_vs_reference", "value"),
            ],
        ),
    }

    environment = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": "python benchmarks/deep_local.py",
        "python": platform.python_version(),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "load_average": [load_before, load_average()],
        "commit": (git_commit(Path.cwd()) or {}).get("commit"),
        "seconds": round(time.perf_counter() - started, 1),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "deep_local.json").write_text(json.dumps({"environment": environment, "results": results}, indent=2))
    lines = [
        "# Deep local figures on CPU: FLOPs, stages, profiles, optimisations",
        "",
        f"`{environment['command']}` — {environment['date']}, {environment['cpu']} ({environment['cpu_count']} cores), "
        f"load {environment['load_average']}, commit {str(environment['commit'])[:12]}, {environment['seconds']} s.",
        "",
    ]
    for name, result in results.items():
        lines += [f"## {name}", ""]
        if "checks" in result:
            lines += (
                ["| check | value |", "|---|---|"]
                + [
                    f"| {k} | {v:.4g} |" if isinstance(v, float) else f"| {k} | {v} |"
                    for k, v in result["checks"].items()
                ]
                + [""]
            )
        header = list(result["cells"][0])
        lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for row in result["cells"]:
            lines.append("| " + " | ".join(f"{v:.4g}" if isinstance(v, float) else str(v) for v in row.values()) + " |")
        lines.append("")
    lines += ["## Top layer classes by self time (profiling pass)", "", *profiles_md]
    (args.out / "deep_local.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    checks = [r["checks"] for r in results.values() if "checks" in r]
    return 0 if all(c["flops_pass"] for c in checks) else 1


if __name__ == "__main__":
    raise SystemExit(main())
