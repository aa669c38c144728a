"""The energy source of a loaded model's cells, and its idle power, measured once before they run.

One source per (device, requested setting), opened the first time a cell asks for it; its idle
power is measured right then, with the model loaded and nothing running, so every cell of the
group that reads that source is compared with the same idle figure.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from vlmperf.meters.energy import (
    CounterError,
    EnergyReading,
    EnergySource,
    EnergyWindow,
    measure_idle_power_w,
    open_energy_source,
)

IDLE_WINDOW_S = 2.0
"""How long the quiet window that measures idle power lasts (counters update every ~20-100 ms)."""


@dataclass(frozen=True)
class CellEnergy:
    """What a cell's energy windows read, or why there is nothing to read (source None)."""

    source: EnergySource | None
    why_none: str | None
    idle_power_w: float | None

    @property
    def name(self) -> str:
        return self.source.name if self.source is not None else "none"

    def info(self) -> dict[str, Any]:
        """What the cell records about its energy figures."""
        described = self.source.describe() if self.source is not None else None
        return {
            "energy_source": self.name,
            "why_none": self.why_none,
            "idle_power_w": self.idle_power_w,
            "idle_window_s": IDLE_WINDOW_S if self.source is not None else None,
            "counter": described,
        }


def check_energy_source(device: str, requested: str) -> None:
    """Fail before the run when an energy source named explicitly cannot be read here (InputError
    saying what to do). A GPU this machine does not have is left to fail its cells at load time."""
    if device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            return
    source, _ = open_energy_source(device, requested)
    if source is not None:
        source.close()


class GroupEnergy:
    """Energy sources of one loaded model's cells, opened on first use."""

    def __init__(self) -> None:
        self._opened: dict[tuple[str, str], CellEnergy] = {}
        self.idle_s = 0.0
        """Wall time spent opening sources and measuring idle power (for the run's time budget)."""

    def for_cell(self, device: str, requested: str) -> CellEnergy:
        key = (device, requested)
        if key not in self._opened:
            started = time.perf_counter()
            source, why = open_energy_source(device, requested)
            try:
                idle = measure_idle_power_w(source, IDLE_WINDOW_S) if source is not None else None
            except BaseException:
                if source is not None:
                    source.close()
                raise
            finally:
                self.idle_s += time.perf_counter() - started
            self._opened[key] = CellEnergy(source, why, idle)
        return self._opened[key]

    def close(self) -> None:
        """Close every source opened (NVML is shut down)."""
        for opened in self._opened.values():
            if opened.source is not None:
                opened.source.close()
        self._opened.clear()


class RunWindow:
    """The energy window around one measured window's timed runs: nothing without a source, and a null
    figure with the reason when the counter fails (a driver reset, NVML gone): the runs are kept."""

    def __init__(self, energy: CellEnergy) -> None:
        self._energy = energy
        self._window = EnergyWindow(energy.source, idle_power_w=energy.idle_power_w) if energy.source else None
        self._failed: str | None = None

    def start(self) -> None:
        if self._window is None:
            return
        try:
            self._window.start()
        except CounterError as exc:
            self._window, self._failed = None, str(exc)

    def elapsed_s(self) -> float | None:
        """Seconds since start, None when no counter is being read."""
        return self._window.elapsed_s() if self._window is not None else None

    def cancel(self) -> None:
        if self._window is not None:
            self._window.cancel()

    def close(self, runs_s: float) -> dict[str, Any] | None:
        """The window's reading as a dict (None without a source); `runs_s` stands in for the duration
        when the counter failed before the window opened."""
        if self._window is None and self._failed is None:
            return None
        if self._window is not None:
            try:
                return self._window.stop().as_dict()
            except CounterError as exc:
                self._failed, runs_s = str(exc), self._window.elapsed_s()
        source = self._energy.source
        assert source is not None  # a counter failed, so there was a source to read
        return EnergyReading(None, runs_s, source.name, self._energy.idle_power_w, self._failed).as_dict()
