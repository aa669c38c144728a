"""What a window watch is: a meter read at the edges of a cell's timed windows whose reading says
whether the cell's figures can be trusted (the machine shared, the GPU held back).

Such meters differ in what they read but not in how the measurement loops use them, so the loops
see only this protocol and the registry (`meters.watches`) lists the kinds: a new one is a module
and one registry entry, and neither the loops nor `metrics.stability` change. A watch is opened per
cell (per drive for an endpoint group, whose cells share one window), read just before each window
opens and just after it closes, never inside it, and closed when the cell is summarised. What it
cannot measure on this machine (no /proc/stat, no NVML) is a reading of None with `why_none`, never
an invented figure; what goes wrong otherwise raises, as any meter's error does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

Reading = dict[str, Any]
"""A watch's reading over a cell's windows: a JSON object stored under its key in the cell's `stability`."""


class WindowWatch(Protocol):
    """One opened watch: its calls sit at the window's edges, so they may take microseconds, not more."""

    why_none: str | None
    """Why this watch reads nothing on this machine (None when it measures)."""

    def before(self) -> None:
        """Just before a window opens."""

    def after(self) -> None:
        """Just after a window closes."""

    def close(self) -> None:
        """Let go of what it holds (a driver handle); its reading stays."""

    def reading(self) -> Reading | None:
        """What it saw over the windows so far, or None (`why_none`, or no window closed)."""


@dataclass(frozen=True)
class Watch:
    """A kind of window watch, as the registry lists it.

    `device` below is the cell's torch device (`cpu`, `cuda:1`) for a model run in this process, None
    for a cell whose model runs elsewhere (an endpoint: this process only sends the requests).
    """

    key: str
    """Its reading's key in a cell's `stability` (null in every cell it was not opened for)."""
    flag: str
    """The flag raised when its verdict is a sentence."""
    open: Callable[[str | None], WindowWatch]
    """Opens it for a cell on `device` (called only where `applies`)."""
    applies: Callable[[str | None], bool]
    """Whether it watches anything for a cell on `device`."""
    verdict: Callable[[Reading], str | None]
    """Why the figures should not be trusted, from a reading (a sentence with what to do), or None."""
    doc: str
    """What its reading is and when its flag is raised: its entry in docs/metrics.md's Stability section."""
    threshold: str
    """Where its flag starts, for the docs' thresholds line ("above 10% of the CPUs' capacity")."""
    sees_other_processes: bool = False
    """Its reading counts the work of other processes on this machine: a server measured on this machine is
    one of them, so for it the reading does not count (`<key>_not_counted` says why)."""
