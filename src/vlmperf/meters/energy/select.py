"""Which energy counter a cell reads, the idle power before it runs, and the measured window.

`measure.energy`:
- "auto": NVML for a `cuda` device when its counter works, RAPL for `cpu` when readable, else no
  source, with the reason recorded (a figure is never invented: without a counter it is null).
- "nvml" / "rapl": that counter or an `InputError` saying what is missing and how to fix it.
  RAPL may be named for a `cuda` target too: it then measures the host CPU sockets and DRAM.
- "none": no counter.

Idle power is the counter's increase over a quiet stretch (nothing running) divided by its
length; the window reports it beside the raw energy, and the idle-subtracted figure is
`energy_j - idle_power_w * duration_s` (it can come out slightly negative when the model adds
almost nothing: it is reported as measured, not clamped).

A window reads the counter at its two edges; the caller synchronises the device first (the
counter sees the work the device has finished, not the work queued on it). For a counter that
wraps (RAPL), a background thread also reads it every `max_read_interval_s / 4`, so a window of
any length sees at most one wrap between readings; if the readings still end up further apart
than `max_read_interval_s` (the process was suspended, the thread starved), the window gives no
energy figure and says why rather than one that may have lost a wrap.
"""

from __future__ import annotations

import itertools
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vlmperf.errors import InputError
from vlmperf.meters.energy.counters import EnergySource, EnergyUnavailable
from vlmperf.meters.energy.nvml import NvmlEnergySource, torch_device_properties
from vlmperf.meters.energy.rapl import POWERCAP_ROOT, RaplEnergySource

ENERGY_CHOICES = ("auto", "nvml", "rapl", "none")
_AUTO_SOURCE = {"cuda": "nvml", "cpu": "rapl"}  # device kind -> the counter that measures it


def open_energy_source(
    device: str,
    requested: str = "auto",
    *,
    nvml: Any = None,
    powercap_root: Path = POWERCAP_ROOT,
    device_properties: Callable[[int | None], Any] = torch_device_properties,
) -> tuple[EnergySource | None, str | None]:
    """(source, None), or (None, why there is none). Raises InputError when `requested` names a
    counter that cannot be read. `nvml`, `powercap_root`, `device_properties`: for tests."""
    openers: dict[str, Callable[[], EnergySource]] = {
        "nvml": lambda: NvmlEnergySource.open(device, nvml=nvml, device_properties=device_properties),
        "rapl": lambda: RaplEnergySource.open(powercap_root),
    }
    if requested not in ENERGY_CHOICES:
        raise InputError(f"measure.energy is {requested!r}: choose one of {', '.join(ENERGY_CHOICES)}")
    if requested == "none":
        return None, "measure.energy is none"
    kind = device.partition(":")[0]
    if requested == "auto":
        name = _AUTO_SOURCE.get(kind)
        if name is None:
            return None, f"no energy counter for device {device!r} (NVML measures cuda devices, RAPL the cpu)"
        try:
            return openers[name](), None
        except EnergyUnavailable as exc:
            return None, f"{name}: {exc}"
    if requested == "nvml" and kind != "cuda":
        raise InputError(
            f"measure.energy is nvml but the target device is {device!r}: NVML measures NVIDIA GPUs; "
            "use rapl (or auto) for the CPU"
        )
    try:
        return openers[requested](), None
    except EnergyUnavailable as exc:
        fix = f" To fix: {exc.fix}" if exc.fix else ""
        raise InputError(f"measure.energy is {requested} but {exc.reason}.{fix}") from exc


def measure_idle_power_w(
    source: EnergySource,
    duration_s: float = 2.0,
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.perf_counter,
) -> float:
    """Mean power over `duration_s` seconds of doing nothing: counter increase / elapsed time.

    Call it with the model loaded and the device idle (synchronised), before the cell's runs.
    Sleeps in steps no longer than a quarter of the counter's wrap interval, reading each time.
    """
    if duration_s <= 0:
        raise ValueError(f"duration_s must be positive, got {duration_s}")
    step = min(duration_s, source.max_read_interval_s / 4)
    start_t = clock()
    start_j = source.read_j()
    end_t, end_j = start_t, start_j
    while (remaining := start_t + duration_s - clock()) > 0:
        sleep(min(step, remaining))
        end_t = clock()
        end_j = source.read_j()
    return (end_j - start_j) / (end_t - start_t)


@dataclass(frozen=True)
class EnergyReading:
    """One window's energy: the raw counter difference, and what idle power explains of it."""

    energy_j: float | None  # None: no source, or the counter could not be trusted (see note)
    duration_s: float
    source: str  # "nvml" | "rapl" | "none"
    idle_power_w: float | None = None
    note: str | None = None  # why energy_j is None

    @property
    def energy_above_idle_j(self) -> float | None:
        """energy_j - idle_power_w x duration_s: what the work added to the idle draw."""
        if self.energy_j is None or self.idle_power_w is None:
            return None
        return self.energy_j - self.idle_power_w * self.duration_s

    @property
    def power_w(self) -> float | None:
        """energy_j / duration_s: the mean power over the window."""
        if self.energy_j is None or self.duration_s <= 0:
            return None
        return self.energy_j / self.duration_s

    def as_dict(self) -> dict:
        return {
            "energy_j": self.energy_j,
            "energy_above_idle_j": self.energy_above_idle_j,
            "power_w": self.power_w,
            "idle_power_w": self.idle_power_w,
            "duration_s": self.duration_s,
            "energy_source": self.source,
            "energy_note": self.note,
        }


class EnergyWindow:
    """start() and stop() read the counter; stop() returns the window's EnergyReading.

    `source` None gives readings with energy_j None, source "none" and `reason` as the note.
    `background=False` turns the wrap-keeping reader off (tests, or counters known not to wrap).
    A window abandoned between start() and stop() (the work raised) should be cancel()led.
    """

    def __init__(
        self,
        source: EnergySource | None,
        *,
        idle_power_w: float | None = None,
        reason: str | None = None,
        clock: Callable[[], float] = time.perf_counter,
        background: bool = True,
    ) -> None:
        self._source = source
        self._idle_power_w = idle_power_w
        self._reason = reason
        self._clock = clock
        self._background = background
        self._start: tuple[float, float | None] | None = None
        self._read_times: list[float] = []
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._thread_error: BaseException | None = None

    def _read(self) -> tuple[float, float | None]:
        t = self._clock()
        joules = self._source.read_j() if self._source is not None else None
        self._read_times.append(t)
        return t, joules

    def start(self) -> None:
        if self._start is not None:
            raise RuntimeError("this EnergyWindow was already started; open a new one per window")
        self._start = self._read()
        interval = self._source.max_read_interval_s if self._source is not None else math.inf
        if self._background and math.isfinite(interval):
            self._thread = threading.Thread(target=self._keep_reading, args=(interval / 4,), daemon=True)
            self._thread.start()

    def elapsed_s(self) -> float:
        """Seconds since start(), from the window's clock (the counter is not read)."""
        if self._start is None:
            raise RuntimeError("EnergyWindow.elapsed_s() before start()")
        return self._clock() - self._start[0]

    def _keep_reading(self, every_s: float) -> None:
        try:
            while not self._stopping.wait(every_s):
                self._read()
        except BaseException as exc:  # handed to stop(), which raises it in the caller's thread
            self._thread_error = exc

    def cancel(self) -> None:
        """End the background reader of a window that will not be stopped (its work failed)."""
        if self._thread is not None:
            self._stopping.set()
            self._thread.join()
            self._thread = None

    def stop(self) -> EnergyReading:
        if self._start is None:
            raise RuntimeError("EnergyWindow.stop() before start()")
        self.cancel()
        if self._thread_error is not None:
            raise self._thread_error
        start_t, start_j = self._start
        end_t, end_j = self._read()
        duration_s = end_t - start_t
        if self._source is None:
            return EnergyReading(None, duration_s, "none", None, self._reason)
        assert start_j is not None and end_j is not None  # a source reads a figure every time
        times = sorted(self._read_times)
        longest = max(later - earlier for earlier, later in itertools.pairwise(times))
        if longest > self._source.max_read_interval_s:
            note = (
                f"{longest:.0f} s between two counter readings, longer than the counter's safe "
                f"{self._source.max_read_interval_s:.0f} s: a wrap-around may be missing, so no figure"
            )
            return EnergyReading(None, duration_s, self._source.name, self._idle_power_w, note)
        return EnergyReading(end_j - start_j, duration_s, self._source.name, self._idle_power_w)
