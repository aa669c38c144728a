"""GPU energy from NVML's total-energy counter, and which NVML device a torch `cuda:N` is.

`nvmlDeviceGetTotalEnergyConsumption` is a 64-bit millijoule counter kept by the driver since it
was loaded (Volta and later; it covers the whole board, every process on it). It does not wrap
in practice, so a reading lower than the previous one means a reset and is an error.

Which device: torch numbers GPUs after CUDA_VISIBLE_DEVICES (and CUDA_DEVICE_ORDER) have
reordered and filtered them, NVML numbers every GPU in PCI order, so `cuda:1` is often not NVML
index 1. The physical GPU behind torch's index is matched by its PCI address
(`get_device_properties(i).pci_domain_id / pci_bus_id / pci_device_id`, present in torch 2.x
though not in its type stubs), else by its UUID (`.uuid`), never by position.

`nvml` (a module shaped like pynvml) and `device_properties` (torch's lookup) are parameters so
the tests can replay recorded readings without a GPU.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from vlmperf.meters.energy.counters import CounterError, EnergyUnavailable, WrappingCounter

_NO_ENERGY = "or set measure.energy to none"


def load_nvml(nvml: Any = None) -> Any:
    """The pynvml module (nvidia-ml-py), or `nvml` when given; EnergyUnavailable when missing."""
    if nvml is not None:
        return nvml
    try:
        import pynvml
    except ImportError as exc:
        raise EnergyUnavailable(
            "nvidia-ml-py is not installed", f"`pip install nvidia-ml-py` (part of vlmperf[local]), {_NO_ENERGY}"
        ) from exc
    return pynvml


def start_nvml(nvml: Any) -> None:
    """nvmlInit, or EnergyUnavailable saying why NVML cannot start (no driver, no library)."""
    try:
        nvml.nvmlInit()
    except nvml.NVMLError as exc:
        raise EnergyUnavailable(
            f"NVML did not start ({exc})",
            f"install the NVIDIA driver so that libnvidia-ml.so.1 loads, {_NO_ENERGY}",
        ) from exc


def as_text(value: Any) -> str:
    """NVML strings: str from nvidia-ml-py >= 11, bytes from older bindings."""
    return value.decode() if isinstance(value, bytes) else str(value)


def cuda_index(device: str) -> int | None:
    """The N of "cuda:N"; None for a bare "cuda" (torch's current device)."""
    kind, _, index = device.partition(":")
    if kind != "cuda":
        raise EnergyUnavailable(f"device {device!r} is not a CUDA device; NVML measures NVIDIA GPUs only")
    if not index:
        return None
    if not index.isdigit():
        raise EnergyUnavailable(f"device {device!r} is not of the form cuda:N")
    return int(index)


def torch_device_properties(index: int | None) -> Any:
    """torch.cuda.get_device_properties for `index` (None: the current device), checked first."""
    import torch

    if not torch.cuda.is_available():
        raise EnergyUnavailable(
            "torch sees no CUDA device (CPU-only build of torch, or CUDA_VISIBLE_DEVICES hides every GPU)"
        )
    index = torch.cuda.current_device() if index is None else index
    count = torch.cuda.device_count()
    if index >= count:
        raise EnergyUnavailable(f"cuda:{index} does not exist: torch sees {count} GPU(s) after CUDA_VISIBLE_DEVICES")
    return torch.cuda.get_device_properties(index)


def pci_address(properties: Any) -> str | None:
    """The "domain:bus:device.0" address NVML looks GPUs up by, when torch reports it."""
    parts = [getattr(properties, name, None) for name in ("pci_domain_id", "pci_bus_id", "pci_device_id")]
    if any(not isinstance(part, int) for part in parts):
        return None
    domain, bus, dev = parts
    return f"{domain:08x}:{bus:02x}:{dev:02x}.0"


def nvml_uuid(properties: Any) -> str | None:
    """torch's device UUID in NVML's spelling ("GPU-" + the bare UUID)."""
    uuid = getattr(properties, "uuid", None)
    if uuid is None or not str(uuid):
        return None
    text = str(uuid)
    return text if text.startswith(("GPU-", "MIG-")) else f"GPU-{text}"


def nvml_handle(
    nvml: Any, device: str, device_properties: Callable[[int | None], Any] = torch_device_properties
) -> tuple[Any, dict]:
    """The NVML handle of torch's `device`, and how it was matched (for the manifest)."""
    properties = device_properties(cuda_index(device))
    tried = []
    address = pci_address(properties)
    if address is not None:
        try:
            return nvml.nvmlDeviceGetHandleByPciBusId(address), {"matched_by": "pci_bus_id", "pci_bus_id": address}
        except nvml.NVMLError as exc:
            tried.append(f"PCI address {address}: {exc}")
    uuid = nvml_uuid(properties)
    if uuid is not None:
        try:
            return nvml.nvmlDeviceGetHandleByUUID(uuid), {"matched_by": "uuid", "uuid": uuid}
        except nvml.NVMLError as exc:
            tried.append(f"UUID {uuid}: {exc}")
    detail = "; ".join(tried) if tried else "torch reports neither its PCI address nor its UUID"
    raise EnergyUnavailable(f"cannot find {device} among NVML's GPUs ({detail})", _NO_ENERGY)


class NvmlEnergySource:
    """The whole GPU board's energy, in joules since the source was opened."""

    name = "nvml"
    max_read_interval_s = math.inf  # a 64-bit millijoule counter: no wrap within any run

    def __init__(self, nvml: Any, handle: Any, info: dict) -> None:
        self._nvml = nvml
        self._handle = handle
        self._info = info
        self._open = True
        self._counter = WrappingCounter(self._raw_mj(), None, "NVML total-energy counter")

    def _raw_mj(self) -> int:
        return int(self._nvml.nvmlDeviceGetTotalEnergyConsumption(self._handle))

    @classmethod
    def open(
        cls,
        device: str,
        *,
        nvml: Any = None,
        device_properties: Callable[[int | None], Any] = torch_device_properties,
    ) -> NvmlEnergySource:
        """Start NVML, find `device`, read its counter once; EnergyUnavailable when any step fails."""
        nvml = load_nvml(nvml)
        start_nvml(nvml)
        try:
            handle, info = nvml_handle(nvml, device, device_properties)
            gpu_name = device
            try:
                gpu_name = as_text(nvml.nvmlDeviceGetName(handle))
                return cls(nvml, handle, {"device": device, "gpu_name": gpu_name, **info})
            except nvml.NVMLError as exc:
                raise _counter_unavailable(nvml, exc, gpu_name) from exc
        except Exception:
            nvml.nvmlShutdown()
            raise

    def read_j(self) -> float:
        """Joules since the source was opened; an NVML failure mid-run is a CounterError (no figure)."""
        try:
            raw = self._raw_mj()
        except self._nvml.NVMLError as exc:
            raise CounterError(f"NVML stopped answering the energy counter: {exc}") from exc
        return self._counter.update(raw) / 1e3

    def describe(self) -> dict:
        return {
            "source": self.name,
            **self._info,
            "counter": "nvmlDeviceGetTotalEnergyConsumption (mJ, whole board, every process)",
            "max_read_interval_s": self.max_read_interval_s,
        }

    def close(self) -> None:
        if self._open:
            self._open = False
            self._nvml.nvmlShutdown()


def _counter_unavailable(nvml: Any, exc: Exception, gpu_name: str) -> EnergyUnavailable:
    if isinstance(exc, getattr(nvml, "NVMLError_NotSupported", ())):
        return EnergyUnavailable(
            f"{gpu_name} has no total-energy counter (NVML: {exc}); it needs a Volta or newer GPU, "
            "and a MIG instance has none of its own",
            f"measure on such a GPU, {_NO_ENERGY}",
        )
    return EnergyUnavailable(f"NVML could not read the energy counter of {gpu_name} ({exc})", _NO_ENERGY)
