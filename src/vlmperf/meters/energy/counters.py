"""What an energy counter is, and how raw counter readings become joules.

Hardware energy counters are cumulative integers that only grow, until they wrap: RAPL's
`energy_uj` returns to zero after `max_energy_range_uj` (a 32-bit register times the energy
unit, a few minutes at full power on some CPUs); NVML's millijoule counter is 64-bit and, in
practice, never wraps. A reader keeps one `WrappingCounter` per raw counter and feeds it every
reading; the counter turns consecutive readings into a total that survives wrap-arounds.

The one assumption: between two consecutive readings the counter wrapped at most once. Two
readings further apart than `wrap_time_s(modulus, power)` at the highest plausible power could
hide a second wrap, so a reader reports the shortest such time over its counters
(`max_read_interval_s`) and its callers read at least that often (see `select.EnergyWindow`).
"""

from __future__ import annotations

import math
from typing import Protocol


class EnergyUnavailable(Exception):
    """No energy counter can be opened; `reason` says what is missing, `fix` what the user can do.

    Not a user error by itself: with `energy: auto` it only means the figures are null and the
    reason is recorded; `select.open_energy_source` turns it into an `InputError` when the user
    asked for that source by name.
    """

    def __init__(self, reason: str, fix: str = "") -> None:
        super().__init__(f"{reason}. {fix}".strip() if fix else reason)
        self.reason = reason
        self.fix = fix


class CounterError(RuntimeError):
    """A counter went backwards where it cannot wrap, or read outside its range: the figure would
    be wrong, so none is given. Usually a driver reload or a GPU reset during the run."""


class EnergySource(Protocol):
    """A cumulative energy counter, opened once and read at window edges."""

    name: str  # "nvml" | "rapl": the value of `energy_source`
    max_read_interval_s: float  # read at least this often, or a wrap may be missed (math.inf: never wraps)

    def read_j(self) -> float:
        """Joules since the source was opened, wrap-arounds already accounted for."""
        ...

    def describe(self) -> dict:
        """What is read (device, zones, counter ranges), for the run's manifest."""
        ...

    def close(self) -> None:
        """Release the library or files behind the counter."""
        ...


class WrappingCounter:
    """Total increase of one raw counter that wraps to 0 at `modulus` (None: never wraps).

    `update(raw)` takes every reading in order and returns the total increase since the first
    one, in the counter's own unit (integers, so no rounding accumulates over a long run).
    """

    def __init__(self, first_raw: int, modulus: int | None, label: str = "counter") -> None:
        self._modulus = modulus
        self._label = label
        self._check_range(first_raw)
        self._last = first_raw
        self._total = 0
        self.wraps = 0

    def _check_range(self, raw: int) -> None:
        if raw < 0 or (self._modulus is not None and raw > self._modulus):
            raise CounterError(f"{self._label} read {raw}, outside its range 0..{self._modulus}")

    def update(self, raw: int) -> int:
        self._check_range(raw)
        delta = raw - self._last
        if delta < 0:
            if self._modulus is None:
                raise CounterError(
                    f"{self._label} went backwards ({self._last} -> {raw}); it cannot wrap, so the "
                    "device was probably reset or its driver reloaded during the run: measure again"
                )
            delta += self._modulus
            self.wraps += 1
        self._last = raw
        self._total += delta
        return self._total

    @property
    def total(self) -> int:
        return self._total


def wrap_time_s(modulus_j: float | None, power_w: float) -> float:
    """Seconds a counter of range `modulus_j` joules takes to wrap at `power_w` watts: the longest
    safe gap between two readings. math.inf when the counter does not wrap."""
    if modulus_j is None:
        return math.inf
    if power_w <= 0:
        raise ValueError(f"power_w must be positive, got {power_w}")
    return modulus_j / power_w
