"""What held a GPU's clocks back while a cell's timed windows ran: its clock-event reasons and SM clock,
read at each window's edges.

The telemetry beside each cell (`gpu_telemetry`) is one reading after the cell; a GPU that hit its
power cap or thermal limit in the middle of the measurement ran slower there and says so only
while it happens. So NVML is opened once per cell and read just before each window opens and just
after it closes (a reading is two NVML calls, microseconds; never inside a window): a window watch
(`meters.window_watch`, listed in `meters.watches`) for cells on a CUDA device. A reason that
slows the clocks for a cause outside the user's settings (`THROTTLE_REASONS`: power cap, thermal
and hardware slowdowns, power brake) makes the cell `throttled`; `gpu_idle` (clocks idle between
windows), application-clock and display settings do not.

On a CPU, or without NVML, the answer is None with why.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

from vlmperf.meters.energy.counters import EnergyUnavailable
from vlmperf.meters.energy.nvml import load_nvml, nvml_handle, start_nvml, torch_device_properties
from vlmperf.meters.gpu_telemetry import decode_reasons, first_that_works
from vlmperf.meters.window_watch import Reading, Watch

THROTTLE_REASONS = frozenset(
    {
        "sw_power_cap",
        "hw_slowdown",
        "sw_thermal_slowdown",
        "hw_thermal_slowdown",
        "hw_power_brake_slowdown",
    }
)
"""Reasons that slow a GPU for a cause outside the user's settings: their presence flags a cell `throttled`."""


class GpuClockWatch:
    """The clock-event reasons and SM clock of one cell's GPU, sampled at its windows' edges."""

    def __init__(
        self,
        device: str,
        *,
        nvml: Any = None,
        device_properties: Callable[[int | None], Any] = torch_device_properties,
    ) -> None:
        """`nvml`, `device_properties`: for tests."""
        self.why_none: str | None = None
        self._nvml: Any = None
        self._handle: Any = None
        self._reasons: set[str] = set()
        self._clocks: list[int] = []
        self._max_clock: int | None = None
        self.samples = 0
        if not on_cuda(device):
            self.why_none = f"{device} is not a CUDA device"
            return
        try:
            nvml = load_nvml(nvml)
            start_nvml(nvml)
        except EnergyUnavailable as exc:
            self.why_none = str(exc)
            return
        try:
            self._handle, _ = nvml_handle(nvml, device, device_properties)
        except EnergyUnavailable as exc:
            nvml.nvmlShutdown()
            self.why_none = str(exc)
            return
        self._nvml = nvml
        self._shutdown = weakref.finalize(self, nvml.nvmlShutdown)  # once, by close() or when dropped
        sm = nvml.NVML_CLOCK_SM
        self._max_clock = self._read(lambda: nvml.nvmlDeviceGetMaxClockInfo(self._handle, sm))

    def _read(self, call: Callable[[], Any]) -> Any:
        try:
            return call()
        except (AttributeError, self._nvml.NVMLError):
            return None  # a field this GPU does not report: the others still count

    def before(self) -> None:
        """A sample just before a window opens."""
        self._sample()

    def after(self) -> None:
        """A sample just after a window closes."""
        self._sample()

    def _sample(self) -> None:
        """One reading of the reasons and the SM clock (at a window's edge)."""
        nvml, handle = self._nvml, self._handle
        if nvml is None:
            return
        mask = self._read(
            lambda: first_that_works(
                nvml,
                [
                    lambda: nvml.nvmlDeviceGetCurrentClocksEventReasons(handle),
                    lambda: nvml.nvmlDeviceGetCurrentClocksThrottleReasons(handle),
                ],
            )
        )
        if mask is not None:
            self._reasons.update(decode_reasons(int(mask), nvml))
        clock = self._read(lambda: nvml.nvmlDeviceGetClockInfo(handle, nvml.NVML_CLOCK_SM))
        if clock is not None:
            self._clocks.append(int(clock))
        self.samples += 1

    def close(self) -> None:
        """Let NVML go (what was sampled stays readable)."""
        if self._nvml is not None:
            self._shutdown()
            self._nvml = None

    def reading(self) -> Reading | None:
        """`{"samples", "reasons_seen", "throttle_reasons", "sm_clock_mhz": {"min", "max"}, "sm_clock_max_mhz"}`,
        or None when not read (`why_none`) or never sampled."""
        if self.why_none is not None or not self.samples:
            return None
        return {
            "samples": self.samples,
            "reasons_seen": sorted(self._reasons),
            "throttle_reasons": sorted(self._reasons & THROTTLE_REASONS),
            "sm_clock_mhz": {"min": min(self._clocks), "max": max(self._clocks)} if self._clocks else None,
            "sm_clock_max_mhz": self._max_clock,
        }


def throttled(reading: Reading) -> str | None:
    """Why a cell's figures are not to be trusted when a `THROTTLE_REASONS` reason was seen at a window's edge."""
    throttles = reading.get("throttle_reasons") or []
    if not throttles:
        return None
    return (
        f"the GPU's clocks were held back by {', '.join(throttles)} during the timed windows: "
        "check its cooling and power limit (nvidia-smi -q -d PERFORMANCE)"
    )


def on_cuda(device: str | None) -> bool:
    """Whether the cell's model runs on a CUDA device of this machine."""
    return device is not None and device.partition(":")[0] == "cuda"


def _open(device: str | None) -> GpuClockWatch:
    if device is None:
        raise ValueError("the GPU clock watch needs the cell's device (it applies on a CUDA device only)")
    return GpuClockWatch(device)


GPU_CLOCKS = Watch(
    key="gpu_clocks",
    flag="throttled",
    open=_open,
    applies=on_cuda,
    verdict=throttled,
    doc="the clock-event reasons and SM clock seen at the windows' edges (a local model on a CUDA device); "
    "`throttled` when a power, thermal or hardware slowdown was among them",
    threshold=f"on any of {', '.join(f'`{r}`' for r in sorted(THROTTLE_REASONS))}",
)
"""Its registry entry (`meters.watches`)."""
