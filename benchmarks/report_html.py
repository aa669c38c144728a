"""How long does the HTML report of a run with 100,000 records take to build, and how big is it?

Builds a synthetic results store through the real `Store` API (create_run, add_cell, start_cell,
add_records, finish_cell, fail_cell): a local-model sweep of batch size (1, 2, 4, 8, 16) x max
input length (50, 100, 200, 400), 20 cells of 5,000 records each, plus one failed cell. Every
record looks like a real local record (stages, FLOPs, an energy window every 20 records, one
output of 40-120 characters per sample, a few holding `<script>`); latencies are lognormal around
a mean that grows with batch size and input length. Summaries are computed with the real
`summarize_records` on each cell's first 500 records (the full bootstrap over 5,000 values x 30
metrics x 20 cells would take minutes and does not change what the report draws), quality figures
(cider, wer) are made up, and four cells carry a module profile, so every plot kind is drawn.

What is timed (Speed criterion of issue 6: at most 5 s and under 10 MB for 100,000 records):
`run_document(store, run_id)` + `render_html(document, records=store)`, which reads every record
of every cell from SQLite and reduces it. The first build in the process is "cold" (imports
plotly and reads its 4.8 MB bundle); `--repeats` more are "warm"; the criterion is on the cold
one. Reading the records alone (`store.records` per cell) is timed apart, to show where the time
goes.

Run from the repository root:  python benchmarks/report_html.py [--records 100000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from vlmperf.metrics.cell_summary import summarize_records
from vlmperf.report.html import render_html
from vlmperf.report.schema import run_document
from vlmperf.store.sqlite import Store

REPO = Path(__file__).resolve().parent.parent
GOAL_S, GOAL_BYTES = 5.0, 10 * 2**20
BATCH_SIZES, INPUT_LENS = (1, 2, 4, 8, 16), (50, 100, 200, 400)
WORDS = [
    "a", "man", "woman", "dog", "cat", "sitting", "on", "the", "grass", "next", "to", "red", "car", "street", "table",
    "with", "plate", "of", "food",
]  # fmt: skip
HOSTILE = "<script>alert(1)</script> a caption"


def base_config(batch_size: int, max_input_len: int) -> dict[str, Any]:
    return {
        "target.kind": "local",
        "target.model": "llava-hf/llava-1.5-7b-hf",
        "target.dtype": "fp16",
        "target.device": "cuda",
        "workload.task": "caption",
        "workload.source": "builtin",
        "workload.max_input_len": max_input_len,
        "workload.image_size": 224,
        "scenario.kind": "offline",
        "scenario.batch_size": batch_size,
        "generation.max_new_tokens": 32,
        "measure.flops": True,
    }


def make_record(rng: np.random.Generator, seq: int, batch: int, length: int) -> dict[str, Any]:
    latency = float(rng.lognormal(np.log(0.05 + 0.01 * batch + 0.0002 * length), 0.15))
    stages = dict(
        zip(
            ("vision_s", "projector_s", "prefill_s", "decode_s"),
            (latency * s for s in (0.1, 0.02, 0.2, 0.6)),
            strict=True,
        )
    )
    ids = [f"sample-{(seq * batch + i) % 500}" for i in range(batch)]
    outputs = [" ".join(rng.choice(WORDS, size=int(rng.integers(8, 24)))) for _ in ids]
    if seq % 997 == 0:
        outputs[0] = HOSTILE
    record = {
        "batch_size": batch,
        "started_unix_s": 1.8e9 + seq,
        "sample_ids": ids,
        "latency_s": latency,
        "ttft_s": latency * 0.3,
        "decode_steps": 32,
        "preprocess_s": 0.004 * batch,
        "stages": {**stages, "generate_overhead_s": latency * 0.08},
        "peak_memory_bytes": 14e9 + batch * 1e8,
        "input_tokens": [length + 576] * batch,
        "vision_tokens": [576] * batch,
        "truncated_tokens": [0] * batch,
        "output_tokens": [32] * batch,
        "outputs": outputs,
        "captions": [1] * batch,
        "recompiles": None,
        "speculative": None,
        "peak_flops_per_s": 312e12,
        "energy": None,
        "flops": {"prefill": 7.5e12 * batch * (1 + length / 1000), "decode": 4.3e11 * batch},
    }
    if seq % 20 == 19:
        record["energy"] = {
            "energy_j": 300 * latency * 20,
            "energy_above_idle_j": 220 * latency * 20,
            "samples": 20 * batch,
            "output_tokens": 640 * batch,
            "power_w": 300.0,
            "idle_power_w": 80.0,
        }
    return record


def profile(batch: int) -> dict[str, Any]:
    classes = [
        ("LlamaDecoderLayer", 32, 0.020),
        ("CLIPEncoderLayer", 24, 0.006),
        ("Linear", 400, 0.004),
        ("LlamaRMSNorm", 65, 0.001),
        ("LlavaMultiModalProjector", 1, 0.0005),
    ]
    rows = [{"class": c, "instances": n, "self_s": s * batch**0.7} for c, n, s in classes]
    return {"modules": {"total_s": sum(r["self_s"] for r in rows), "classes": rows}}


def build_store(folder: Path, total: int) -> tuple[Store, str]:
    store = Store.open(folder)
    run_id = "bench-report-html"
    store.create_run(
        run_id, "report-html-benchmark", {"config": {"name": "report-html-benchmark"}, "python": sys.version}
    )
    rng = np.random.default_rng(20261122)
    cells = [(b, n) for n in INPUT_LENS for b in BATCH_SIZES]
    per_cell = total // len(cells)
    for position, (batch, length) in enumerate(cells):
        cell_id = f"cell-b{batch}-l{length}"
        store.add_cell(
            run_id,
            cell_id,
            position,
            base_config(batch, length),
            {"scenario.batch_size": batch, "workload.max_input_len": length},
        )
        store.start_cell(run_id, cell_id)
        records = [make_record(rng, seq, batch, length) for seq in range(per_cell)]
        store.add_records(run_id, cell_id, list(enumerate(records)))
        summary = summarize_records(records[:500])
        cider = 1.1 - 0.0004 * length + 0.01 * batch
        summary["cider"] = {"value": cider, "ci95": [cider - 0.05, cider + 0.05], "n": 500}
        summary["wer"] = {"value": 0.6 - cider / 4, "ci95": None, "n": 500}
        info = {"profile": profile(batch)} if length == 200 and batch in (1, 4, 8, 16) else {}
        store.finish_cell(run_id, cell_id, summary, info)
    store.add_cell(
        run_id,
        "cell-b32-l400",
        len(cells),
        base_config(32, 400),
        {"scenario.batch_size": 32, "workload.max_input_len": 400},
    )
    store.start_cell(run_id, "cell-b32-l400")
    store.fail_cell(
        run_id, "cell-b32-l400", {"type": "OutOfMemoryError", "message": "CUDA out of memory <b>tried</b> 2 GiB"}
    )
    store.set_run_status(run_id, "complete")
    return store, run_id


def build(store: Store, run_id: str) -> tuple[float, str]:
    start = time.perf_counter()
    page = render_html(run_document(store, run_id), records=store)
    return time.perf_counter() - start, page


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def git_commit() -> str | None:
    try:
        return subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def write_results(out: Path, figures: dict[str, Any]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "report_html.json").write_text(json.dumps(figures, indent=2) + "\n")
    verdict = "PASS" if figures["pass"] else "FAIL"
    lines = [
        f"# HTML report of a run with {figures['records']:,} records",
        "",
        f"Criterion (issue 6, Speed): the report builds in at most {GOAL_S:.0f} s and stays under 10 MB. "
        f"Cold build **{figures['cold_build_s']:.2f} s**, page **{figures['page_bytes'] / 2**20:.2f} MB**. "
        f"**{verdict}**.",
        "",
        "Timed: `run_document(store, run_id)` + `render_html(document, records=store)` (reads and reduces every "
        f"record of {figures['cells']} cells in SQLite). Cold: the first build in the process (imports plotly, "
        "reads its bundle; the store's file is in the OS cache, just written). "
        "Synthetic store built through the `Store` API; see `benchmarks/report_html.py`.",
        "",
        "| figure | value |",
        "|---|---:|",
        f"| records | {figures['records']:,} |",
        f"| cells (ok + failed) | {figures['cells']} |",
        f"| cold build s | {figures['cold_build_s']:.2f} |",
        f"| warm build s (median of {len(figures['warm_build_s'])}) | "
        f"{statistics.median(figures['warm_build_s']):.2f} |",
        f"| reading the records alone s (`store.records` per cell) | {figures['read_records_s']:.2f} |",
        f"| page bytes | {figures['page_bytes']:,} |",
        f"| of which plotly.js | {figures['plotly_js_bytes']:,} |",
        f"| plots | {figures['plots']} |",
        "",
        f"Machine: {figures['environment']['cpu']}, {figures['environment']['cpu_count']} cores; python "
        f"{figures['environment']['python']}, plotly {figures['environment']['plotly']}; "
        f"commit {figures['git_commit']}; {figures['date']}.",
        "",
    ]
    (out / "report_html.md").write_text("\n".join(lines))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        store, run_id = build_store(Path(tmp), args.records)
        print(f"synthetic store: {args.records:,} records in {time.perf_counter() - start:.1f} s")
        with store:
            cold, page = build(store, run_id)
            warm = [build(store, run_id)[0] for _ in range(args.repeats)]
            start = time.perf_counter()
            read = sum(len(store.records(run_id, c["id"])) for c in store.cells(run_id))
            read_s = time.perf_counter() - start
    import plotly
    from plotly.offline import get_plotlyjs

    size = len(page.encode())
    figures = {
        "records": read,
        "cells": len(BATCH_SIZES) * len(INPUT_LENS) + 1,
        "cold_build_s": cold,
        "warm_build_s": warm,
        "read_records_s": read_s,
        "page_bytes": size,
        "plotly_js_bytes": len(get_plotlyjs().encode()),
        "plots": page.count('<div class="plot"'),
        "pass": cold <= GOAL_S and size < GOAL_BYTES,
        "goal": {"build_s": GOAL_S, "page_bytes": GOAL_BYTES},
        "environment": {
            "python": platform.python_version(),
            "plotly": plotly.__version__,
            "cpu": cpu_name(),
            "cpu_count": os.cpu_count(),
        },
        "git_commit": git_commit(),
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": " ".join(["python", *sys.argv]),
    }
    write_results(args.out, figures)
    print(
        f"cold {cold:.2f} s, warm {', '.join(f'{w:.2f}' for w in warm)} s, records alone {read_s:.2f} s, "
        f"page {size / 2**20:.2f} MB, {figures['plots']} plots: {'PASS' if figures['pass'] else 'FAIL'}"
    )
    return 0 if figures["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
