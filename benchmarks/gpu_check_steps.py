"""The steps of `benchmarks/gpu_check.py`: each runs its work as child processes and summarises what they wrote.

A step gets a `Context` (where to write, the Python to run, the device, the environment facts of
the first step) and its settings from the plan of the mode (`gpu_check.PLANS`), and returns a dict
with at least `status` ("ok", "failed", "timeout"; the driver adds "skipped"). Every child runs in
a process group of its own, killed as a whole when the step's time is up, so a hang or a CUDA crash
costs one step. Figures are read from what the children wrote (harness_overhead's JSON, vlmperf's
store), never from their terminal output.

This module holds how a step runs its children (`Context.call`, `call_result`) and the steps whose
children write files of their own (environment facts, harness_overhead's JSON, pytest's JUnit XML);
the steps that run vlmperf and read its store (optimisation cells, profile, energy) are in
`gpu_check_runs.py`.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent

LLAVA_7B = {"model": "llava-1.5-7b", "no_weights": True, "dtype": "fp16"}
"""The llava-1.5-7b replica: the published architecture, random weights, fp16 (the study's base)."""
LLAVA_7B_2L = {**LLAVA_7B, "text_layers": 2, "vision_layers": 2}
"""The same at full widths with 2 of 32 text and 2 of 24 vision layers: every kernel at the real
shapes, cheap enough to load ten times and compile twice inside the check's six minutes."""
TINY = {"model": "builtin:tiny-llava", "dtype": "fp32"}

GPU_ONLY_TESTS = (
    "tests/test_energy.py::test_real_nvml_counter_on_a_gpu",
    "tests/test_gpu_telemetry.py::test_real_gpu_telemetry",
    "tests/test_stability.py::test_real_gpu_clock_watch",
    "tests/test_gpu_check.py::test_cuda_event_clock_agrees_with_the_host_clock",
    "tests/test_gpu_check.py::test_cuda_first_token_marker_never_waits_for_the_device",
    "tests/test_gpu_check.py::test_cuda_timed_generate_marks_the_first_token_and_the_stages",
)
"""Tests that skip without CUDA and an NVIDIA driver: NVML energy and telemetry against the real
driver, CUDA-event timing. On a GPU each must pass, not skip."""


@dataclass
class Call:
    """One finished child process."""

    cmd: list[str]
    rc: int | None
    timed_out: bool
    duration_s: float
    log: Path

    def tail(self, chars: int = 1500) -> str:
        text = self.log.read_text(errors="replace") if self.log.is_file() else ""
        return text[-chars:]


@dataclass
class Context:
    """What every step needs: where to write, what to run, on which device."""

    out: Path
    work: Path
    device: str
    python: str = sys.executable
    env_facts: dict[str, Any] = field(default_factory=dict)
    child_env: dict[str, str] = field(default_factory=dict)

    def call(self, name: str, args: list[str], limit_s: float) -> Call:
        """Run `python <args>` from the repository root in its own process group; kill the group at `limit_s`."""
        log = self.work / "logs" / f"{name}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        cmd = [self.python, *args]
        started = time.monotonic()
        with log.open("w") as sink:
            proc = subprocess.Popen(
                cmd,
                cwd=REPO,
                env=self.child_env or None,
                stdout=sink,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
            try:
                rc, timed_out = proc.wait(timeout=max(limit_s, 1)), False
            except subprocess.TimeoutExpired:
                rc, timed_out = None, True
            except BaseException:  # Ctrl-C in the driver: the child's group goes too
                _kill_group(proc)
                raise
            if timed_out:
                _kill_group(proc)
        return Call(cmd, rc, timed_out, time.monotonic() - started, log)


def _kill_group(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def call_result(call: Call, ok_codes: tuple[int, ...] = (0,)) -> dict[str, Any]:
    """The status a child's exit gives a step, with the log's tail when it did not end well."""
    result: dict[str, Any] = {"command": " ".join(["python", *call.cmd[1:]]), "log": str(call.log), "rc": call.rc}
    if call.timed_out:
        return {
            **result,
            "status": "timeout",
            "error": f"still running after {call.duration_s:.0f} s: killed",
            "log_tail": call.tail(),
        }
    if call.rc not in ok_codes:
        return {
            **result,
            "status": "failed",
            "error": last_line(call.tail()) or f"exit code {call.rc}",
            "log_tail": call.tail(),
        }
    return {**result, "status": "ok"}


def last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""


def write_config(path: Path, config: dict[str, Any]) -> Path:
    """A vlmperf YAML config (written as JSON, which YAML reads as is: no `off` turning into false)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config, indent=2) + "\n")
    return path


def target(model: dict[str, Any], device: str) -> dict[str, Any]:
    return {**model, "device": device}


# ---------------------------------------------------------------------------------------------- environment


def step_environment(ctx: Context, s: dict[str, Any], limit_s: float) -> dict[str, Any]:
    """Versions, GPU, driver and CUDA, from a child process (the driver never imports torch)."""
    path = ctx.work / "environment.json"
    path.unlink(missing_ok=True)
    call = ctx.call("environment", ["benchmarks/gpu_check_env.py", "--device", ctx.device, "--out", str(path)], limit_s)
    result = call_result(call)
    if result["status"] == "ok":
        ctx.env_facts.update(json.loads(path.read_text()))
        result["facts"] = ctx.env_facts
    return result


# ---------------------------------------------------------------------------------------------- harness overhead


def step_overhead(ctx: Context, s: dict[str, Any], limit_s: float) -> dict[str, Any]:
    """benchmarks/harness_overhead.py on one model: vlmperf against a bare generate loop, interleaved pairs."""
    stem = f"harness_overhead_{s['label']}"
    path = ctx.out / f"{stem}.json"
    path.unlink(missing_ok=True)  # never read an earlier run's figures
    model = s["model"]
    args = [
        "benchmarks/harness_overhead.py",
        "--model",
        model["model"],
        "--dtype",
        model["dtype"],
        "--device",
        ctx.device,
        "--batch-sizes",
        *map(str, s["batch_sizes"]),
        "--pairs",
        str(s["pairs"]),
        "--warmup",
        str(s["warmup"]),
        "--max-new-tokens",
        str(s["max_new_tokens"]),
        "--bootstrap",
        str(s.get("bootstrap", 2000)),
        "--out",
        str(ctx.out),
        "--stem",
        stem,
    ]
    args += ["--no-weights"] if model.get("no_weights") else []
    args += [
        x
        for kind in ("text_layers", "vision_layers")
        if model.get(kind)
        for x in (f"--{kind.replace('_', '-')}", str(model[kind]))
    ]
    args += ["--diagnose"] if s.get("diagnose") else []
    result = call_result(ctx.call(stem, args, limit_s), ok_codes=(0, 1))  # 1: ran, and the goal was missed
    if result["status"] != "ok":
        return result
    if not path.is_file():
        return {**result, "status": "failed", "error": f"harness_overhead.py wrote no {path.name}"}
    report = json.loads(path.read_text())
    return {
        **result,
        "files": [f"{stem}.json", f"{stem}.md"],
        "goal_met": report["pass"],
        "criterion": report["criterion"],
        "model": report["settings"]["model"],
        "figures": overhead_figures(report),
    }


def overhead_figures(report: dict[str, Any]) -> dict[str, Any]:
    """Per batch size: each condition's median, the paired ratio with its interval, and the ablation's ratios."""
    figures = {}
    for batch, e in report["results"].items():
        figures[batch] = {
            "pairs": e["pairs"],
            "bare_ms": e["median_ms"]["bare"],
            "reported_ms": e["median_ms"]["vlmperf_reported"],
            "ratio_reported_over_bare": e["ratio_reported_over_bare"],
            "ratio_outside_over_bare": e["ratio_outside_over_bare"],
            "pass": e["pass"],
            "pieces_ratio_over_bare": {name: p["ratio_over_bare"] for name, p in e.get("pieces", {}).items()},
        }
    return figures


# ---------------------------------------------------------------------------------------------- GPU-only tests


def step_gpu_tests(ctx: Context, s: dict[str, Any], limit_s: float) -> dict[str, Any]:
    """pytest of the tests that skip without CUDA (and, in the full check, the files around them)."""
    xml = ctx.work / "gpu_tests.xml"
    xml.unlink(missing_ok=True)
    args = ["-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={xml}", *s.get("files", []), *GPU_ONLY_TESTS]
    result = call_result(ctx.call("gpu_tests", args, limit_s), ok_codes=(0, 1))
    if result["status"] != "ok":
        return result
    if not xml.is_file():
        return {**result, "status": "failed", "error": "pytest wrote no JUnit XML"}
    outcomes = junit_outcomes(xml)
    gpu_only = {test: outcomes.get(_junit_key(test), "not collected") for test in GPU_ONLY_TESTS}
    counts = {kind: sum(1 for o in outcomes.values() if o == kind) for kind in ("passed", "failed", "skipped")}
    bad = [t for t, o in gpu_only.items() if o != "passed"] + [t for t, o in outcomes.items() if o == "failed"]
    return {
        **result,
        "status": "failed" if bad else "ok",
        "gpu_only": gpu_only,
        "counts": counts,
        **({"error": f"not passed: {', '.join(sorted(set(bad)))}"} if bad else {}),
    }


def _junit_key(node_id: str) -> str:
    """`tests/test_x.py::test_y` as JUnit names it: `tests.test_x::test_y`."""
    path, _, name = node_id.partition("::")
    return f"{path.removesuffix('.py').replace('/', '.')}::{name}"


def junit_outcomes(path: Path) -> dict[str, str]:
    """`module::test` -> passed / failed / skipped, from pytest's JUnit XML (errors count as failed)."""
    outcomes = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        kinds = {child.tag for child in case}
        outcome = "failed" if kinds & {"failure", "error"} else "skipped" if "skipped" in kinds else "passed"
        outcomes[f"{case.get('classname')}::{case.get('name')}"] = outcome
    return outcomes
