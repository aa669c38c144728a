"""What this machine can run for a local target, and how to install what it lacks.

A sweep may ask for settings this machine cannot run (a CUDA device on a laptop, flash attention
without its package, bitsandbytes on CPU). Those settings fail their own cells when the model is
loaded, with a message that says what is missing and how to get it; the other cells of the sweep
still run. `check_target` is that check; `report` lists what is installed, for manifests.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import logging
import shutil
from typing import Any

import torch

from vlmperf.backends.local.target import LocalTarget
from vlmperf.errors import InputError

QUANTIZATION_PACKAGES = {"torchao-int8": "torchao", "bnb-8bit": "bitsandbytes", "bnb-4bit": "bitsandbytes"}
"""The package each quantization method needs."""

INSTALL_HINTS = {
    "torchao": "pip install 'vlmperf[quantization]' (or: pip install torchao)",
    "bitsandbytes": "pip install 'vlmperf[quantization]' on a CUDA machine (or: pip install bitsandbytes)",
    "flash_attn": "pip install flash-attn --no-build-isolation (on a CUDA machine with a CUDA build of torch)",
    "triton": "pip install triton (it ships with CUDA builds of torch)",
}


class _KnownImportNoise(logging.Filter):
    """Drops two messages torchao causes whenever transformers is imported, which no user can act on:
    its CUDA-only kernel libraries failing to load into a CPU build of torch, and a deprecation
    warning torch raises about how torchao registers two enums. Anything else passes."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.name == "torchao":
            return not (
                torch.version.cuda is None and message.startswith("Failed to load") and "/torchao/_C" in message
            )
        return "is an Enum subclass and is now natively supported by torch.compile" not in message


_NOISE_FILTER = _KnownImportNoise()


def silence_known_import_noise() -> None:
    """Attach the filter to the loggers those messages come from; call before transformers is first imported
    (transformers imports torchao when it is installed), so `vlmperf run` keeps stderr for what matters."""
    for name in ("torchao", "torch.utils._pytree"):
        logger = logging.getLogger(name)
        if _NOISE_FILTER not in logger.filters:
            logger.addFilter(_NOISE_FILTER)


def installed_version(module: str) -> str | None:
    """The installed version of the package that provides `module`, or None when it cannot be imported."""
    if importlib.util.find_spec(module) is None:
        return None
    distribution = {"flash_attn": "flash-attn"}.get(module, module)
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "unknown version"


def _needs(module: str, what: str) -> None:
    if installed_version(module) is None:
        raise InputError(f"{what} needs the {module} package, which is not installed here: {INSTALL_HINTS[module]}")


def check_device(device: str) -> None:
    """Fail when the device does not exist on this machine."""
    if not device.startswith("cuda"):
        return
    if not torch.cuda.is_available():
        raise InputError(
            f"device {device!r} asked for, but torch {torch.__version__} sees no CUDA device here; "
            "use target.device=cpu or run on a machine with a GPU and a CUDA build of torch"
        )
    index = int(device.split(":")[1]) if ":" in device else 0
    if index >= torch.cuda.device_count():
        count = torch.cuda.device_count()
        raise InputError(
            f"device {device!r} does not exist: this machine has {count} CUDA device(s); "
            f"use cuda:0 to cuda:{count - 1}, or cpu"
        )


def check_attention(attn_implementation: str, device: str) -> None:
    """flash_attention_2 has CUDA kernels only, from the flash-attn package."""
    if attn_implementation != "flash_attention_2":
        return
    if not device.startswith("cuda"):
        raise InputError(
            f"attn_implementation flash_attention_2 runs on CUDA GPUs only (flash-attn has no kernels for {device}): "
            "use attn_implementation sdpa or eager on CPU, or device cuda on a GPU machine"
        )
    _needs("flash_attn", "attn_implementation flash_attention_2")


def check_quantization(quantization: str, device: str) -> None:
    """torchao int8 runs on CPU and CUDA; bitsandbytes' 8-bit and 4-bit kernels need CUDA here."""
    if quantization == "none":
        return
    package = QUANTIZATION_PACKAGES[quantization]
    if package == "bitsandbytes" and not device.startswith("cuda"):
        raise InputError(
            f"quantization {quantization} (bitsandbytes) runs on CUDA GPUs only in vlmperf: use device cuda on a GPU "
            "machine, or quantization torchao-int8 on CPU"
        )
    _needs(package, f"quantization {quantization}")


def check_compile(mode: str, device: str) -> None:
    """torch.compile's inductor backend builds C++ kernels on CPU (needs a compiler) and Triton kernels on CUDA."""
    if mode == "off":
        return
    if device.startswith("cuda"):
        _needs("triton", f"compile {mode} on {device}")
        return
    from torch._inductor import config as inductor_config

    configured = inductor_config.cpp.cxx  # the compilers inductor tries, in order (None: a conda install, opt-in)
    compilers = [c for c in (configured if isinstance(configured, (list, tuple)) else (configured,)) if c]
    if not any(shutil.which(c) for c in compilers):
        raise InputError(
            f"compile {mode} on CPU needs a C++ compiler for torch's inductor ({' or '.join(compilers)} not found on "
            "PATH): install one (e.g. apt-get install g++), or set target.compile off"
        )


def check_target(target: LocalTarget) -> None:
    """Everything the target asks of this machine, checked before any weights are read."""
    check_device(target.device)
    check_attention(target.attn_implementation, target.device)
    check_quantization(target.quantization, target.device)
    check_compile(target.compile, target.device)


def report() -> dict[str, Any]:
    """What is installed and visible, for a run's manifest and for error reports."""
    cuda = torch.cuda.is_available()
    return {
        "torch": torch.__version__,
        "cuda_available": cuda,
        "cuda_devices": torch.cuda.device_count() if cuda else 0,
        "packages": {
            module: installed_version(module) for module in ("torchao", "bitsandbytes", "flash_attn", "triton")
        },
        "cpp_compiler": shutil.which("g++") or shutil.which("c++"),
    }
