"""Energy of measured windows from hardware counters: NVML on NVIDIA GPUs, RAPL on CPUs.

Typical use, once per loaded model and then per window:

    source, reason = open_energy_source("cuda:0", "auto")   # (None, reason) when there is no counter
    idle_w = measure_idle_power_w(source) if source else None
    window = EnergyWindow(source, idle_power_w=idle_w, reason=reason)
    window.start(); ...; reading = window.stop()             # synchronise the device before each edge
    source.close()

Nothing here imports torch or pynvml until a source is opened.
"""

from vlmperf.meters.energy.counters import CounterError, EnergySource, EnergyUnavailable, WrappingCounter
from vlmperf.meters.energy.nvml import NvmlEnergySource
from vlmperf.meters.energy.rapl import RaplEnergySource
from vlmperf.meters.energy.select import (
    ENERGY_CHOICES,
    EnergyReading,
    EnergyWindow,
    measure_idle_power_w,
    open_energy_source,
)

__all__ = [
    "ENERGY_CHOICES",
    "CounterError",
    "EnergyReading",
    "EnergySource",
    "EnergyUnavailable",
    "EnergyWindow",
    "NvmlEnergySource",
    "RaplEnergySource",
    "WrappingCounter",
    "measure_idle_power_w",
    "open_energy_source",
]
