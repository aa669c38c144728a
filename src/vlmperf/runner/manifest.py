"""What a run was measured with: versions, hardware, code and the resolved config.

Nothing here may fail a run: a fact that cannot be read is recorded as null.
"""

from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any


def package_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def cpu_model() -> str | None:
    """The CPU's marketing name from /proc/cpuinfo (Linux), else what platform reports."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or None


def load_average() -> list[float] | None:
    """The 1, 5 and 15 minute load averages (rounded), None where the OS has none: a busy machine
    explains slow figures, so benchmarks record it before and after."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def git_commit(folder: Path) -> dict[str, Any] | None:
    """The commit of the git checkout `folder` is in, and whether it has uncommitted changes."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain"], cwd=folder, capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit, "dirty": bool(dirty)}


def torch_environment() -> dict[str, Any]:
    """torch, CUDA and GPU facts; imported only for local targets (endpoint runs never load torch)."""
    import torch

    facts: dict[str, Any] = {
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.version.cuda,
        "cuda_available": torch.cuda.is_available(),
        "gpus": [],
        "driver": None,
    }
    if torch.cuda.is_available():
        facts["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        facts["driver"] = _nvidia_driver()
    return facts


def _nvidia_driver() -> str | None:
    """The NVIDIA driver version, from NVML (nvidia-ml-py) or, failing that, the kernel module."""
    try:
        import pynvml
    except ImportError:
        pynvml = None
    if pynvml is not None:
        try:
            pynvml.nvmlInit()
            version = pynvml.nvmlSystemGetDriverVersion()
            return version.decode() if isinstance(version, bytes) else version
        except pynvml.NVMLError:
            pass  # no usable NVML here: the kernel module below may still tell
    proc = Path("/proc/driver/nvidia/version")
    if proc.is_file():
        match = re.search(r"Kernel Module\s+(?:for \S+\s+)?([\d.]+)", proc.read_text(errors="replace"))
        return match.group(1) if match else None
    return None


def devices_used(devices: list[str]) -> dict[str, str | None]:
    """Each device the run's cells use, with its name (the CPU model for cpu; null for a GPU this
    machine does not have, whose cells fail when they load)."""
    named: dict[str, str | None] = {}
    for device in sorted(set(devices)):
        if device.startswith("cuda"):
            import torch

            index = int(device.split(":")[1]) if ":" in device else 0
            present = torch.cuda.is_available() and index < torch.cuda.device_count()
            named[device] = torch.cuda.get_device_name(index) if present else None  # its cells fail at load
        else:
            named[device] = cpu_model()
    return named


def gpu_states(devices: list[str]) -> dict[str, dict[str, Any] | None]:
    """Clocks, temperature, power limit and clock-event reasons of each GPU the run uses, at its start."""
    from vlmperf.meters.gpu_telemetry import gpu_telemetry

    return {device: gpu_telemetry(device) for device in sorted(set(devices)) if device.startswith("cuda")}


def build_manifest(config: dict[str, Any], *, local: bool, devices: list[str] | None = None) -> dict[str, Any]:
    """The manifest of a run about to start."""
    from vlmperf import __version__

    manifest: dict[str, Any] = {
        "vlmperf": __version__,
        "python": platform.python_version(),
        "python_executable": sys.executable,
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "packages": {
            name: package_version(name) for name in ("transformers", "accelerate", "tokenizers", "numpy", "pillow")
        },
        "git": git_commit(Path.cwd()),
        "config": config,
    }
    if local:
        manifest.update(torch_environment())
        manifest["devices"] = devices_used(devices or [])
        manifest["gpu_telemetry"] = gpu_states(devices or [])
    return manifest
