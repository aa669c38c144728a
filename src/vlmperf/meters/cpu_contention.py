"""How much CPU other processes took on this process's CPUs while its timed windows were open.

On a shared machine the same cell can take 30 ms one minute and 500 ms the next; nothing in the
figures themselves says why. Linux's /proc/stat counts, per CPU, the time spent busy (user, nice,
system, irq, softirq, and steal: time a hypervisor gave another guest) since boot; the process's
own CPU time (every thread, `os.times`) is part of it. Over a window, busy time on the CPUs this
process may run on (its affinity) minus its own CPU time is what other processes took there.
`other_cpu_share` is that time over the windows' capacity (wall time x those CPUs): 0.5 on two
CPUs means one CPU's worth of someone else's work ran beside the measurement.

It is a window watch (`meters.window_watch`, listed in `meters.watches`): the counters are read at
the window's edges, never inside it (a read is a file read of a few microseconds). Their unit is
the clock tick (1/100 s on Linux), so a window shorter than a few ticks says little; the windows of
a cell are summed before the share is taken. Where there is no /proc/stat (macOS, Windows) the
answer is None with why. It watches every cell, an endpoint's too (its client's CPUs are shared
alike); an endpoint served on this machine does not count it, since that server is one of the
other processes.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Collection
from pathlib import Path

from vlmperf.meters.window_watch import Reading, Watch

STAT = Path("/proc/stat")
BUSY_FIELDS = (0, 1, 2, 5, 6, 7)
"""user, nice, system, irq, softirq, steal in a cpuN line (guest time is already inside user)."""
CONTENDED_SHARE = 0.10
"""Other processes' CPU time above this share of this process's CPUs' capacity makes a cell `contended`."""


def busy_seconds(stat_text: str, cpus: Collection[int]) -> float:
    """Busy time since boot, summed over the listed CPUs, from the text of /proc/stat."""
    ticks = 0
    for line in stat_text.splitlines():
        name, _, rest = line.partition(" ")
        if not name.startswith("cpu") or name == "cpu" or int(name[3:]) not in cpus:
            continue
        fields = [int(v) for v in rest.split()]
        ticks += sum(fields[i] for i in BUSY_FIELDS if i < len(fields))
    return ticks / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds() -> float:
    """CPU time of this process, all its threads, user and system."""
    times = os.times()
    return times.user + times.system


class CpuContention:
    """Other processes' CPU time during the windows of one cell (or one endpoint drive): call `before()`
    before a window opens and `after()` after it closes; `reading()` sums the windows."""

    def __init__(
        self,
        read_stat: Callable[[], str] | None = None,
        own_cpu: Callable[[], float] = own_cpu_seconds,
        cpus: Collection[int] | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        """`read_stat`, `own_cpu`, `cpus`, `clock`: for tests (defaults: /proc/stat, `os.times`, this
        process's affinity, the monotonic clock)."""
        self._clock = clock
        self._read_stat = read_stat or (lambda: STAT.read_text())
        self._own_cpu = own_cpu
        self._cpus = set(cpus) if cpus is not None else set(os.sched_getaffinity(0))
        self._start: tuple[float, float, float] | None = None
        self.why_none: str | None = None
        self.wall_s = self.busy_s = self.own_s = 0.0
        self.windows = 0
        try:
            self._read_stat()
        except OSError as exc:
            self.why_none = f"no /proc/stat here ({type(exc).__name__}): CPU contention is not measured"

    def _now(self) -> tuple[float, float, float]:
        return self._clock(), busy_seconds(self._read_stat(), self._cpus), self._own_cpu()

    def before(self) -> None:
        if self.why_none is None:
            self._start = self._now()

    def after(self) -> None:
        if self._start is None:
            return
        (wall0, busy0, own0), (wall1, busy1, own1) = self._start, self._now()
        self._start = None
        self.wall_s += wall1 - wall0
        self.busy_s += busy1 - busy0
        self.own_s += own1 - own0
        self.windows += 1

    def close(self) -> None:
        """Nothing to let go: /proc/stat is opened at each read."""

    def reading(self) -> Reading | None:
        """`{"other_cpu_s", "own_cpu_s", "wall_s", "cpus", "windows", "other_cpu_share"}`, or None when
        not measured (`why_none`) or no window was closed."""
        if self.why_none is not None or not self.windows:
            return None
        other = max(self.busy_s - self.own_s, 0.0)  # tick rounding can make it a hair negative
        capacity = self.wall_s * len(self._cpus)
        return {
            "other_cpu_s": other,
            "own_cpu_s": self.own_s,
            "wall_s": self.wall_s,
            "cpus": len(self._cpus),
            "windows": self.windows,
            "other_cpu_share": min(other / capacity, 1.0) if capacity > 0 else None,
        }


def contended(reading: Reading) -> str | None:
    """Why a cell's figures are not to be trusted when others took over `CONTENDED_SHARE` of its CPUs."""
    share = reading.get("other_cpu_share")
    if share is None or share <= CONTENDED_SHARE:
        return None
    return (
        f"other processes used {share:.1%} of this process's {reading['cpus']} CPU(s) during the timed "
        f"windows (over {CONTENDED_SHARE:.0%}): measure again when the machine is quiet"
    )


CPU_CONTENTION = Watch(
    key="contention",
    flag="contended",
    open=lambda device: CpuContention(),
    applies=lambda device: True,
    verdict=contended,
    doc="CPU time other processes took on this process's CPUs during the timed windows; `contended` when "
    "their share of those CPUs' capacity is above `CONTENDED_SHARE`. An endpoint on this machine's loopback "
    "address is never flagged: its server is one of the other processes, and its CPU time is part of what "
    "is measured (`contention_not_counted` says so)",
    threshold=f"above {CONTENDED_SHARE:.0%} of the CPUs' capacity",
    sees_other_processes=True,
)
"""Its registry entry (`meters.watches`)."""
