"""Peak memory of a measured window.

CUDA: the allocator's peak (`max_memory_allocated`), reset at the window's start. CPU: the
process's peak resident set size (VmHWM), reset at the window's start by writing 5 to
/proc/self/clear_refs (Linux). Where that reset is not allowed, the lifetime peak
(`ru_maxrss`) is reported and the source says so, because it can only grow.
"""

from __future__ import annotations

import re
import resource
import sys
from pathlib import Path
from typing import Protocol

_HWM = re.compile(r"^VmHWM:\s+(\d+)\s+kB", re.MULTILINE)


class PeakMemoryMeter(Protocol):
    source: str

    def reset(self) -> None: ...

    def peak_bytes(self) -> int: ...


class CudaPeakMemory:
    source = "cuda_max_allocated"

    def __init__(self, device: str) -> None:
        import torch

        self._cuda = torch.cuda
        self._device = torch.device(device)

    def reset(self) -> None:
        self._cuda.reset_peak_memory_stats(self._device)

    def peak_bytes(self) -> int:
        return int(self._cuda.max_memory_allocated(self._device))


class ProcessPeakRss:
    """Peak RSS of this process, per window where Linux lets the peak be reset."""

    def __init__(self) -> None:
        self._status = Path("/proc/self/status")
        self._clear_refs = Path("/proc/self/clear_refs")
        self.source = "rss_peak_window" if self._can_reset() else "rss_peak_lifetime"

    def _can_reset(self) -> bool:
        try:
            self._clear_refs.write_text("5")
            return self._read_hwm() is not None
        except OSError:
            return False

    def _read_hwm(self) -> int | None:
        try:
            match = _HWM.search(self._status.read_text())
        except OSError:
            return None
        return int(match.group(1)) * 1024 if match else None

    def reset(self) -> None:
        if self.source == "rss_peak_window":
            self._clear_refs.write_text("5")

    def peak_bytes(self) -> int:
        if self.source == "rss_peak_window":
            hwm = self._read_hwm()
            if hwm is not None:
                return hwm
        scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss is bytes on macOS, KiB on Linux
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def memory_meter_for(device: str) -> PeakMemoryMeter:
    return CudaPeakMemory(device) if device.startswith("cuda") else ProcessPeakRss()
