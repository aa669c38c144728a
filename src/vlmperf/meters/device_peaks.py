"""The roofs of a local cell's device: its peak FLOP/s in the cell's dtype and its peak memory bandwidth.

A figure the user gives in the target (`peak_flops_per_s`, `peak_memory_bandwidth_bytes_per_s`)
wins: it is how a CPU, or a GPU missing from the table, gets one. Otherwise a GPU's figures come from the
datasheet table (`meters.gpu_peaks`). A figure nobody gave stays None, and `missing` says why and
how to give it, so the utilisations and limits that need it are null for a stated reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from vlmperf.meters.gpu_peaks import lookup


@dataclass(frozen=True)
class DevicePeaks:
    flops_per_s: float | None
    memory_bandwidth_bytes_per_s: float | None
    source: dict[str, str | None]
    """Where each figure came from: `config`, the datasheet `gpu_peaks` cites, or None."""
    missing: list[str] = field(default_factory=list)
    """Why a figure is None, and how to give it."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "peak_flops_per_s": self.flops_per_s,
            "peak_memory_bandwidth_bytes_per_s": self.memory_bandwidth_bytes_per_s,
            "source": self.source,
            "missing": self.missing,
        }


def device_peaks(target: Any, device_name: str | None) -> DevicePeaks:
    """The peaks of `target` (a LocalTarget) running on the device torch calls `device_name` (None: CPU)."""
    table = lookup(device_name) if device_name else None
    where = f"GPU {device_name!r} is not in vlmperf.meters.gpu_peaks" if device_name else "a CPU has no published peak"
    missing: list[str] = []
    flops: float | None = target.peak_flops_per_s
    flops_source: str | None = "config"
    if flops is None:
        flops = table.peak_flops_per_s(target.dtype) if table else None
        flops_source = table.source if table and flops is not None else None
        if flops is None:
            reason = where if table is None else f"the table has no {target.dtype} figure for the {table.model}"
            missing.append(f"peak FLOP/s: {reason}; give target.peak_flops_per_s")
    memory: float | None = target.peak_memory_bandwidth_bytes_per_s
    memory_source: str | None = "config"
    if memory is None:
        memory = table.memory_bytes_per_s() if table else None
        memory_source = table.source if table and memory is not None else None
        if memory is None:
            reason = where if table is None else f"the table has no memory bandwidth for the {table.model}"
            missing.append(f"peak memory bandwidth: {reason}; give target.peak_memory_bandwidth_bytes_per_s")
    return DevicePeaks(flops, memory, {"flops": flops_source, "memory": memory_source}, missing)
