"""The environment facts of a gpu_check run, printed as one JSON object (gpu_check runs this as its first step).

It runs in a process of its own so that the driver never imports torch or opens a CUDA context (the
steps after it get the whole GPU), and so that a broken CUDA install fails one step, not the check.

    python benchmarks/gpu_check_env.py [--device cuda:0] [--out FILE]

Facts: Python, platform, CPU; torch, its CUDA build and whether CUDA works; the GPU's name, UUID,
memory and NVML telemetry (clocks, power limit, driver); `nvidia-smi`'s view of the same GPU; the
versions of every package gpu_check's steps import (pinned ones and optional ones such as
bitsandbytes and flash-attn, null when not installed).
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

PACKAGES = (
    "torch",
    "transformers",
    "tokenizers",
    "accelerate",
    "huggingface-hub",
    "safetensors",
    "numpy",
    "pandas",
    "pydantic",
    "pydantic-core",
    "orjson",
    "PyYAML",
    "typer",
    "rich",
    "Pillow",
    "nvidia-ml-py",
    "pynvml",
    "pytest",
    "torchao",
    "bitsandbytes",
    "flash-attn",
    "triton",
    "plotly",
)
"""Distributions whose versions the results record (null: not installed)."""

SMI_FIELDS = "name,uuid,driver_version,memory.total,power.limit,clocks.max.sm,pci.bus_id"


def package_versions() -> dict[str, str | None]:
    from importlib import metadata

    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def nvidia_smi(selectors: list[str]) -> dict[str, Any] | None:
    """nvidia-smi's own view of the GPU, found by the first selector it accepts (torch's UUID for the
    device, else its index), or None without nvidia-smi. Its `uuid` is what gpu_check's power sampler
    selects the GPU by."""
    if shutil.which("nvidia-smi") is None:
        return None
    errors = []
    for selector in selectors:
        cmd = ["nvidia-smi", f"--query-gpu={SMI_FIELDS}", "--format=csv,noheader", "-i", selector]
        try:
            done = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=20)
        except (OSError, subprocess.SubprocessError) as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
            continue
        lines = done.stdout.strip().splitlines()
        if done.returncode == 0 and lines:
            values = (v.strip() for v in lines[0].split(","))
            # a field holding a comma would shift the rest: never a reason to fail the environment report
            return {**dict(zip(SMI_FIELDS.split(","), values, strict=False)), "selected_by": selector}
        errors.append((done.stdout + done.stderr).strip()[-200:])
    return {"error": "; ".join(errors) or "no GPU selector"}


def torch_facts(device: str) -> dict[str, Any]:
    """torch's CUDA build and, when CUDA works, the device's name, UUID, memory and capability."""
    import torch

    facts: dict[str, Any] = {
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cuda_available": torch.cuda.is_available(),
        "device": device,
    }
    if not (device.startswith("cuda") and torch.cuda.is_available()):
        return facts
    index = int(device.split(":")[1]) if ":" in device else 0
    props = torch.cuda.get_device_properties(index)
    uuid = getattr(props, "uuid", None)
    facts.update(
        {
            "gpu": props.name,
            "gpu_uuid": f"GPU-{uuid}"
            if uuid is not None and not str(uuid).startswith("GPU-")
            else (str(uuid) if uuid else None),
            "gpu_memory_gib": round(props.total_memory / 2**30, 1),
            "compute_capability": f"{props.major}.{props.minor}",
            "cudnn": torch.backends.cudnn.version(),
        }
    )
    return facts


def environment(device: str) -> dict[str, Any]:
    from vlmperf.runner.manifest import cpu_model

    facts: dict[str, Any] = {
        "python": platform.python_version(),
        "python_executable": sys.executable,
        "platform": platform.platform(),
        "cpu": cpu_model(),
        **torch_facts(device),
        "packages": package_versions(),
    }
    if facts.get("cuda_available"):
        from vlmperf.meters.gpu_telemetry import telemetry_or_reason

        facts["telemetry"], facts["telemetry_none_because"] = telemetry_or_reason(device)
    index = device.split(":")[1] if ":" in device else "0"
    facts["nvidia_smi"] = nvidia_smi([g for g in (facts.get("gpu_uuid"), index) if g])
    facts["driver"] = (facts.get("telemetry") or {}).get("driver_version") or (facts["nvidia_smi"] or {}).get(
        "driver_version"
    )
    return facts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda", help="cuda, cuda:N or cpu (default: cuda)")
    parser.add_argument("--out", type=Path, default=None, help="write the JSON here (default: stdout)")
    args = parser.parse_args(argv)
    text = json.dumps(environment(args.device), default=str, indent=2)
    if args.out is None:
        print(text)
    else:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
