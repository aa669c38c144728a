"""Energy of a local model's timed runs, from a hardware counter read at window edges.

A counter (NVML's total-energy counter on GPU, RAPL package + DRAM on CPU) is read at the two
edges of an energy window: consecutive timed generate calls of one cell, repeated until the
window lasts `measure.min_energy_window_s` (counters update every few tens of milliseconds, so a
shorter window would measure the counter's steps, not the model). The window's batches are
prepared before it opens, so preprocessing is not in it, unless the latency estimate that sized the
window was too high: the batches run to fill it are then prepared inside it, and the window's
`prepared_inside` says how many. The record that closes a window carries
`energy`; without a sensor no record does, and these metrics are null (`energy_source: none`).
"""

from __future__ import annotations

from vlmperf.metrics.definitions import Record, metric


def _window(record: Record, key: str) -> list[float | None]:
    """The window's value of `key`, or nothing for a record that does not close a window."""
    window = record.get("energy")
    return [] if window is None else [window[key]]


def _per(record: Record, count: str) -> list[float | None]:
    window = record.get("energy")
    if window is None:
        return []
    return [window["energy_j"] / window[count] if window["energy_j"] is not None and window[count] else None]


@metric("energy_j", "J", "window")
def _energy(record: Record) -> list[float | None]:
    """Counter difference over one energy window (joules), as read: idle power included. Null when the
    counter could not be trusted over the window (the record's energy_note says why)."""
    return _window(record, "energy_j")


@metric("energy_above_idle_j", "J", "window")
def _energy_above_idle(record: Record) -> list[float | None]:
    """energy_j - idle_power_w x window duration: what running the model added to the device's idle
    draw. Not clamped: a figure near zero may come out slightly negative."""
    return _window(record, "energy_above_idle_j")


@metric("energy_per_sample_j", "J", "window")
def _energy_per_sample(record: Record) -> list[float | None]:
    """energy_j / samples answered in the window."""
    return _per(record, "samples")


@metric("energy_per_output_token_j", "J", "window")
def _energy_per_token(record: Record) -> list[float | None]:
    """energy_j / output tokens generated in the window (null when none were)."""
    return _per(record, "output_tokens")


@metric("power_w", "W", "window")
def _power(record: Record) -> list[float | None]:
    """energy_j / window duration: the mean power drawn while the model ran."""
    return _window(record, "power_w")


@metric("idle_power_w", "W", "window")
def _idle_power(record: Record) -> list[float | None]:
    """Power drawn with the model loaded and nothing running: the counter difference over a quiet
    2 s window, measured once per loaded model and energy source before the first cell that reads
    it, divided by its duration."""
    return _window(record, "idle_power_w")
