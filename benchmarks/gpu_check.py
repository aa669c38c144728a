"""One call that validates vlmperf's GPU paths (issue 15): every step a child process with its own time limit.

    python benchmarks/gpu_check.py                 # the full check: at most 6 minutes on an H100 / H200
    python benchmarks/gpu_check.py --quick         # a 2-minute subset
    python benchmarks/gpu_check.py --test-mode     # everything that can run on CPU, tiny model, tiny counts

Steps, most important first (a machine can be taken back mid-call; the results are rewritten after
every step, so what finished is kept):

1. environment: GPU, driver, CUDA, torch, transformers, Python, pydantic, orjson, ... (benchmarks/gpu_check_env.py);
2. overhead_llava7b: benchmarks/harness_overhead.py on the llava-1.5-7b replica (no_weights, fp16) at
   batch 1/4/8/16: vlmperf's reported latency against a bare generate loop on the same loaded model and
   inputs, interleaved in one process, the paired ratio with its bootstrap interval (goal <= 1.02);
3. overhead_tiny: the same on the built-in tiny model, where launch overhead dominates, with the
   per-piece ablation (--diagnose: first-token marker, stage hooks, window marks + sync, each on its own);
4. gpu_tests: the tests that skip without CUDA (NVML energy and telemetry against the real driver,
   CUDA-event timing, timed_generate on CUDA), and in the full check the test files around them;
5. opt_cells: `vlmperf run` over the optimisation cells on a full-width 2-layer llava-1.5-7b replica: sdpa
   vs eager, fp16 vs bf16, prompt lookup, torchao int8, bitsandbytes 8/4-bit and flash-attn (a package
   that is not installed fails its cell with what to install: the expected result then); each cell's
   status, latency, ratio to the base cell of its batch size, agreement, error;
6. opt_compile: torch.compile default (batch 8) and reduce-overhead (batch 1) against their base cells;
7. profile: `vlmperf profile` across batch sizes: top layer classes by self time;
8. energy: a vlmperf run of the llava-1.5-7b replica with NVML energy while `nvidia-smi` samples power
   every 100 ms; each window's NVML joules against the integral of the sampled power (within 10%?).

A step that needs CUDA is "skipped: no CUDA" where there is none (and always in --test-mode, which
runs on CPU); a step that would start with less than MIN_STEP_S of the time budget left is skipped
with that reason. A step's status: ok (it ran; goals such as the 1.02 are reported beside it, not as
the status), failed, timeout, skipped. Exit code 1 when a step failed or timed out, or when a GPU
check found no CUDA.

Results: <out>/gpu_check.{json,md} (default benchmarks/results/gpu/), with each step's figures, the
harness_overhead_<model>.{json,md} it wrote, and the environment. Children's logs, configs and vlmperf
stores (profile traces included) go to <work> (default <out>/work, which git ignores).

On a GPU machine that has torch (CUDA build), numpy, pandas and nvidia-ml-py (pynvml) but not the
rest, install the packages below offline from the wheels benchmarks/gpu_wheels.sh downloads into .whl/
(see benchmarks/README.md, "gpu_check.py"): transformers 5.23.0 (with tokenizers, huggingface-hub and
its httpx2 stack, safetensors, regex, tqdm), accelerate, psutil, pydantic (+ pydantic-core), PyYAML,
typer, rich, orjson, pillow, nvidia-ml-py, packaging, filelock, pytest; optional: torchao,
bitsandbytes, flash-attn (their cells fail with what to install when they are missing). Then:

    pip install --no-index --no-deps --find-links .whl --target /tmp/site -r .whl/requirements.txt
    PYTHONPATH=/tmp/site python benchmarks/gpu_check.py

vlmperf itself needs no installing: the steps run with src/ on PYTHONPATH.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "src")]  # the gpu_check_* modules beside this file; vlmperf uninstalled

import gpu_check_runs as runs  # noqa: E402 - found through the sys.path set just above
import gpu_check_steps as steps  # noqa: E402
from gpu_check_steps import LLAVA_7B, LLAVA_7B_2L, TINY, Context  # noqa: E402

REPO = steps.REPO
MIN_STEP_S = 20.0
"""A step is not started with less of the budget left than this: it could not finish."""


@dataclass(frozen=True)
class Step:
    """One step: what runs it, whether it needs CUDA, and the most seconds it may take."""

    name: str
    title: str
    run: Callable[[Context, dict[str, Any], float], dict[str, Any]]
    limit_s: float
    needs_cuda: bool = False


STEPS = (
    Step("environment", "Environment", steps.step_environment, 60),
    Step("overhead_llava7b", "Harness overhead, llava-1.5-7b replica", steps.step_overhead, 170, needs_cuda=True),
    Step("overhead_tiny", "Harness overhead, tiny model, per-piece ablation", steps.step_overhead, 100),
    Step("gpu_tests", "GPU-only tests", steps.step_gpu_tests, 120, needs_cuda=True),
    Step("opt_cells", "Optimisation cells", runs.step_cells, 150),
    Step("opt_compile", "Optimisation cells: torch.compile", runs.step_cells, 150, needs_cuda=True),
    Step("profile", "vlmperf profile across batch sizes", runs.step_profile, 100),
    Step("energy", "NVML energy against nvidia-smi power", runs.step_energy, 100, needs_cuda=True),
)


def _cells(batch: int, *overrides: dict[str, Any]) -> list[dict[str, Any]]:
    """Cells at one batch size: the base cell first, then one per override."""
    return [{"scenario.batch_size": batch}] + [{"scenario.batch_size": batch, **o} for o in overrides]


EAGER = {"target.attn_implementation": "eager"}
FLASH = {"target.attn_implementation": "flash_attention_2"}
BF16 = {"target.dtype": "bf16"}
PROMPT_LOOKUP = {"target.speculative": "prompt-lookup"}
TORCHAO = {"target.quantization": "torchao-int8"}
BNB8, BNB4 = {"target.quantization": "bnb-8bit"}, {"target.quantization": "bnb-4bit"}

OPT = {"label": "opt_cells", "model": LLAVA_7B_2L, "max_new_tokens": 32, "warmup": 2, "runs": 5}
COMPILE = {
    "label": "opt_compile",
    "model": LLAVA_7B_2L,
    "max_new_tokens": 32,
    "warmup": 3,
    "runs": 5,
    "cells": _cells(8, {"target.compile": "default"}) + _cells(1, {"target.compile": "reduce-overhead"}),
}
PROFILE = {"model": LLAVA_7B_2L, "batch_sizes": [1, 4, 8, 16], "max_new_tokens": 16, "warmup": 1, "runs": 3}
ENERGY = {
    "model": LLAVA_7B,
    "batch_size": 8,
    "max_new_tokens": 32,
    "warmup": 2,
    "runs": 4,
    "min_duration_s": 12,
    "window_s": 3.0,
}
GPU_TEST_FILES = ["tests/test_energy.py", "tests/test_gpu_telemetry.py", "tests/test_meters.py", "tests/test_stages.py"]

PLANS: dict[str, dict[str, Any]] = {
    "full": {
        "budget_s": 360,
        "overhead_llava7b": {
            "label": "llava-1.5-7b",
            "model": LLAVA_7B,
            "batch_sizes": [1, 4, 8, 16],
            "pairs": 12,
            "warmup": 2,
            "max_new_tokens": 16,
        },
        "overhead_tiny": {
            "label": "tiny",
            "model": TINY,
            "batch_sizes": [1, 4],
            "pairs": 100,
            "warmup": 5,
            "max_new_tokens": 16,
            "diagnose": True,
        },
        "gpu_tests": {"files": GPU_TEST_FILES},
        "opt_cells": {**OPT, "cells": _cells(8, EAGER, BF16, FLASH, TORCHAO, BNB8, BNB4) + _cells(1, PROMPT_LOOKUP)},
        "opt_compile": COMPILE,
        "profile": PROFILE,
        "energy": ENERGY,
    },
    "quick": {
        "budget_s": 120,
        "overhead_llava7b": {
            "label": "llava-1.5-7b",
            "model": LLAVA_7B,
            "batch_sizes": [1, 8],
            "pairs": 6,
            "warmup": 1,
            "max_new_tokens": 16,
        },
        "overhead_tiny": {
            "label": "tiny",
            "model": TINY,
            "batch_sizes": [1, 8],
            "pairs": 30,
            "warmup": 3,
            "max_new_tokens": 16,
            "diagnose": True,
        },
        "gpu_tests": {"files": []},
        "opt_cells": {**OPT, "runs": 3, "cells": _cells(8, EAGER, BF16) + _cells(1, PROMPT_LOOKUP)},
        "opt_compile": "not in --quick",
        "profile": "not in --quick",
        "energy": "not in --quick",
    },
    "test": {  # CPU, tiny model, tiny counts: the logic end to end in well under a minute on 2 cores
        "budget_s": 900,
        "overhead_llava7b": "no CUDA (--test-mode runs on CPU)",
        "overhead_tiny": {
            "label": "tiny",
            "model": TINY,
            "batch_sizes": [1, 2],
            "pairs": 3,
            "warmup": 1,
            "max_new_tokens": 4,
            "diagnose": True,
            "bootstrap": 200,
        },
        "gpu_tests": "no CUDA (--test-mode runs on CPU)",
        "opt_cells": {
            "label": "opt_cells",
            "model": TINY,
            "max_new_tokens": 4,
            "warmup": 1,
            "runs": 1,
            "cells": _cells(1, EAGER, BF16, PROMPT_LOOKUP, TORCHAO, BNB8, FLASH),
        },
        "opt_compile": "no CUDA (--test-mode runs on CPU)",
        "profile": {"model": TINY, "batch_sizes": [1, 2], "max_new_tokens": 4, "warmup": 0, "runs": 1},
        "energy": "no CUDA (--test-mode runs on CPU)",
    },
}
"""Each mode's settings per step; a string instead of settings skips the step with that reason."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="the 2-minute subset")
    mode.add_argument(
        "--test-mode",
        action="store_true",
        help="on CPU with the tiny model and tiny counts; CUDA steps are recorded as skipped",
    )
    parser.add_argument("--device", default="cuda", help="the GPU to check: cuda or cuda:N (default: cuda)")
    parser.add_argument(
        "--budget-s",
        type=float,
        default=None,
        help="seconds for the whole check (default: 360; --quick 120); steps that no longer fit are skipped",
    )
    parser.add_argument(
        "--steps",
        nargs="+",
        choices=[s.name for s in STEPS],
        default=None,
        help="run only these steps (environment always runs)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=REPO / "benchmarks" / "results" / "gpu",
        help="folder for gpu_check.{json,md} (default: benchmarks/results/gpu)",
    )
    parser.add_argument(
        "--work", type=Path, default=None, help="folder for logs, configs and stores (default: <out>/work)"
    )
    parser.add_argument(
        "--commit", default=None, help="the git commit checked out, where the folder is not a git checkout"
    )
    args = parser.parse_args(argv)
    args.mode = "quick" if args.quick else "test" if args.test_mode else "full"
    if args.test_mode:
        args.device = "cpu"
    elif not args.device.startswith("cuda"):
        parser.error("--device is a GPU (cuda or cuda:N); --test-mode runs on CPU")
    args.work = args.work or args.out / "work"
    return args


# ---------------------------------------------------------------------------------------------- running the steps


def child_env() -> dict[str, str]:
    """The children's environment: this repository's src/ first on the path, plain logs."""
    env = {**os.environ, "NO_COLOR": "1", "TERM": "dumb", "PYTHONUNBUFFERED": "1", "GIT_OPTIONAL_LOCKS": "0"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO / "src"), env.get("PYTHONPATH")) if p)
    env.pop("FORCE_COLOR", None)
    return env


def skip_reason(step: Step, settings: Any, ctx: Context, args: argparse.Namespace) -> str | None:
    """Why a step does not run: not in this mode, not asked for, no CUDA, or too little time left."""
    if isinstance(settings, str):
        return settings
    if args.steps and step.name != "environment" and step.name not in args.steps:
        return "not in --steps"
    if step.name == "environment":
        return None
    if step.needs_cuda and args.mode == "test":
        return "no CUDA (--test-mode runs on CPU)"
    if not (step.needs_cuda or ctx.device.startswith("cuda")):
        return None
    if "cuda_available" not in ctx.env_facts:
        return "no CUDA known: the environment step did not finish"
    if not ctx.env_facts["cuda_available"]:
        return "no CUDA (torch.cuda.is_available() is false; --test-mode runs on CPU)"
    return None


def run_step(step: Step, settings: dict[str, Any], ctx: Context, limit_s: float) -> dict[str, Any]:
    """Run one step; an exception in the step's own code fails that step only, with its one-line reason."""
    started = time.monotonic()
    try:
        result = step.run(ctx, settings, limit_s)
    except Exception as exc:  # noqa: BLE001 - the check goes on to the next step
        result = {
            "status": "failed",
            "error": f"{type(exc).__name__}: {exc}"[:400],
            "traceback": traceback.format_exc()[-3000:],
        }
    return {
        "title": step.title,
        **result,
        "duration_s": round(time.monotonic() - started, 1),
        "limit_s": round(limit_s),
    }


def check(args: argparse.Namespace) -> dict[str, Any]:
    """Every step in order, the results rewritten after each."""
    plan = PLANS[args.mode]
    budget = args.budget_s or plan["budget_s"]
    args.out.mkdir(parents=True, exist_ok=True)
    args.work.mkdir(parents=True, exist_ok=True)
    ctx = Context(out=args.out, work=args.work, device=args.device, child_env=child_env())
    report = header(args, budget)
    deadline = time.monotonic() + budget
    for step in STEPS:
        settings = plan.get(step.name, {})
        left = deadline - time.monotonic()
        reason = skip_reason(step, settings, ctx, args)
        if reason is None and left < MIN_STEP_S:
            reason = f"out of time: {max(left, 0):.0f} s of the {budget:.0f} s budget left"
        print(
            f"[gpu_check] {step.name}: "
            + (f"skipped ({reason})" if reason else f"running (limit {min(step.limit_s, left):.0f} s)"),
            file=sys.stderr,
            flush=True,
        )
        if reason:
            report["steps"][step.name] = {"title": step.title, "status": "skipped", "reason": reason}
        else:
            report["steps"][step.name] = run_step(step, settings, ctx, min(step.limit_s, left))
            print(
                f"[gpu_check] {step.name}: {report['steps'][step.name]['status']} "
                f"({report['steps'][step.name]['duration_s']} s)",
                file=sys.stderr,
                flush=True,
            )
        if step.name == "environment":
            report["environment"] = summary_environment(ctx.env_facts)
        finish(report, args.out)
    report["complete"] = True
    finish(report, args.out)
    return report


def header(args: argparse.Namespace, budget: float) -> dict[str, Any]:
    from vlmperf.runner.manifest import git_commit  # no torch: the driver stays light

    git = git_commit(REPO) or ({"commit": args.commit, "dirty": None} if args.commit else None)
    return {
        "benchmark": "gpu_check",
        "mode": args.mode,
        "device": args.device,
        "budget_s": budget,
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "host": platform.node(),
        "git": git,
        "complete": False,
        "environment": {},
        "steps": {},
        "_started_monotonic": time.monotonic(),
    }


def summary_environment(facts: dict[str, Any]) -> dict[str, Any]:
    """The facts the results' first lines name: GPU, driver, CUDA and the versions that matter."""
    packages = facts.get("packages") or {}
    smi = facts.get("nvidia_smi") or {}
    return {
        "gpu": facts.get("gpu") or smi.get("name"),
        "gpu_memory_gib": facts.get("gpu_memory_gib"),
        "compute_capability": facts.get("compute_capability"),
        "driver": facts.get("driver"),
        "cuda": facts.get("cuda"),
        "cuda_available": facts.get("cuda_available"),
        "power_limit_w": smi.get("power.limit"),
        "python": facts.get("python"),
        "cpu": facts.get("cpu"),
        "versions": packages,
    }


def finish(report: dict[str, Any], out: Path) -> None:
    """Write gpu_check.json and gpu_check.md as they stand (after every step)."""
    report["wall_s"] = round(time.monotonic() - report["_started_monotonic"], 1)
    report["finished"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    public = {k: v for k, v in report.items() if not k.startswith("_")}
    (out / "gpu_check.json").write_text(json.dumps(public, indent=2, default=str) + "\n")
    from gpu_check_report import markdown

    (out / "gpu_check.md").write_text(markdown(public))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    report = check(args)
    statuses = {name: s["status"] for name, s in report["steps"].items()}
    print(" ".join(f"{name}={status}" for name, status in statuses.items()))
    print(f"results: {args.out / 'gpu_check.json'}, {args.out / 'gpu_check.md'}")
    no_gpu = args.mode != "test" and not report["environment"].get("cuda_available")
    if no_gpu:
        print("no CUDA here: nothing on the GPU was checked (--test-mode checks the logic on CPU)")
    return 1 if no_gpu or any(status in ("failed", "timeout") for status in statuses.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
