"""Goal 4 of the load-generator benchmark (`load_generator.py`): time from launching
`python -m vlmperf run CONFIG` against the instant server to that server's arrival stamp of the
first request (read from `GET /stats`), over several repeats, killed once the request arrived; with
`python -X importtime` of `vlmperf.cli` to name the import chain's biggest costs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from load_generator_common import STARTUP_LIMIT_S


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
