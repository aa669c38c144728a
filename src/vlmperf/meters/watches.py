"""The registry of window watches: the one list of meters that watch a cell's timed windows.

Adding one is a module declaring a `Watch` (`meters.window_watch`) and one line below (or a
`register` call, for a watch defined outside vlmperf). The local measurement loop and the endpoint
group open the watches that apply to a cell (`open_watches`) and call them at the windows' edges;
`metrics.stability` turns each reading into its flag. The order here is the order of the readings
and flags in a cell's `stability` (after `noisy`), and of the docs.
"""

from __future__ import annotations

from vlmperf.meters.cpu_contention import CPU_CONTENTION
from vlmperf.meters.gpu_clock_watch import GPU_CLOCKS
from vlmperf.meters.window_watch import Reading, Watch, WindowWatch

WATCHES: dict[str, Watch] = {}
"""Every registered watch by key, in registration order."""
RESERVED = frozenset({"metric", "n", "cv", "p50", "p50_ci95", "p50_ci95_rel_width", "flags", "reasons", "noisy"})
"""Keys and flags of a cell's `stability` that are not a watch's (`metrics.stability` writes them)."""


def register(watch: Watch) -> Watch:
    """Add a watch: every cell opened from now on is watched by it where it applies."""
    taken = RESERVED | set(WATCHES) | {w.flag for w in WATCHES.values()}
    taken |= {f"{w.key}_not_counted" for w in WATCHES.values()}
    clash = {watch.key, watch.flag, f"{watch.key}_not_counted"} & taken
    if watch.key == watch.flag:
        clash.add(watch.key)
    if clash:
        raise ValueError(f"window watch {watch.key}: {', '.join(sorted(clash))} already named in a cell's stability")
    WATCHES[watch.key] = watch
    return watch


def watch_for(key: str) -> Watch:
    """The registered watch of a reading's key; ValueError for a key no watch has."""
    watch = WATCHES.get(key)
    if watch is None:
        raise ValueError(f"no window watch is registered under {key!r} (known: {', '.join(WATCHES)})")
    return watch


class OpenWatches:
    """The watches opened for one cell (or one endpoint drive), around each of its windows.

    They nest around the window: `before` calls them last registered first and `after` first
    registered first, so the first in the registry sits closest to the window (CPU contention's wall
    clock then spans the least of the other watches' reads)."""

    def __init__(self, opened: list[tuple[Watch, WindowWatch]]) -> None:
        self._opened = opened

    def before(self) -> None:
        """Just before a window opens."""
        for _, opened in reversed(self._opened):
            opened.before()

    def after(self) -> None:
        """Just after a window closes."""
        for _, opened in self._opened:
            opened.after()

    def close(self) -> None:
        """Let go of what they hold; their readings stay."""
        for _, opened in self._opened:
            opened.close()

    def readings(self) -> dict[str, Reading | None]:
        """Each opened watch's reading by key (`metrics.stability` takes them)."""
        return {watch.key: opened.reading() for watch, opened in self._opened}

    def seeing_other_processes(self) -> list[str]:
        """Keys of the opened watches whose readings count other processes on this machine."""
        return [watch.key for watch, _ in self._opened if watch.sees_other_processes]


def open_watches(device: str | None) -> OpenWatches:
    """The registered watches that apply to a cell on `device` (its torch device; None for an endpoint,
    whose model runs elsewhere), opened in registry order."""
    return OpenWatches([(watch, watch.open(device)) for watch in WATCHES.values() if watch.applies(device)])


register(CPU_CONTENTION)
register(GPU_CLOCKS)
