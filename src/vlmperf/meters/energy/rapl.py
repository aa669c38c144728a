"""CPU energy from RAPL counters under /sys/class/powercap (Linux powercap interface).

What is summed: every CPU package zone (`<type>-rapl:N` whose `name` starts with "package") and
every DRAM zone (a package's sub-zone `<type>-rapl:N:M`, or a top-level zone, whose `name` is
"dram"). Core / uncore sub-zones are parts of their package and are not added again; `psys`
(the whole platform) and the `intel-rapl-mmio` duplicate of the package counter are left out for
the same reason. AMD CPUs (family 17h and later) appear through the same driver and the same
layout, usually without a DRAM zone. The counters measure the whole socket, every process on it.

Wrap-around: `energy_uj` returns to 0 after `max_energy_range_uj`. Each zone's wrap time is
its range divided by a conservative power: the larger of `ASSUMED_MAX_POWER_W` and twice the
zone's highest power-limit constraint. `max_read_interval_s` is the shortest of those times;
reading at least that often guarantees at most one wrap between readings (typically minutes;
`select.EnergyWindow` keeps to it, and refuses a figure when it could not).

The root folder is a parameter so the tests point the reader at a fake tree.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from pathlib import Path

from vlmperf.meters.energy.counters import EnergyUnavailable, WrappingCounter, wrap_time_s

POWERCAP_ROOT = Path("/sys/class/powercap")
ASSUMED_MAX_POWER_W = 500.0  # above any single package or DRAM zone today, so wrap times err short
_TOP_ZONE = re.compile(r"^[a-z]+-rapl:(\d+)$")  # intel-rapl:0; not intel-rapl-mmio:0, not intel-rapl:0:0
_PERMISSION_FIX = (
    "run as root, or let every user read the counters until the next reboot: "
    "`sudo chmod a+r /sys/class/powercap/intel-rapl:*/energy_uj "
    "/sys/class/powercap/intel-rapl:*/intel-rapl:*/energy_uj`; "
    "or set measure.energy to none"
)


@dataclass(frozen=True)
class RaplZone:
    """One counter that is summed: where it is and how fast it may wrap."""

    label: str  # "package-0", "package-0/dram"
    path: Path
    max_energy_range_uj: int
    assumed_max_power_w: float

    @property
    def wrap_time_s(self) -> float:
        return wrap_time_s(self.max_energy_range_uj / 1e6, self.assumed_max_power_w)

    def read_uj(self) -> int:
        return int((self.path / "energy_uj").read_text().strip())


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError as exc:
        raise EnergyUnavailable(f"cannot read {path} ({exc.strerror or exc})", _PERMISSION_FIX) from exc


def _assumed_power_w(zone_dir: Path) -> float:
    """ASSUMED_MAX_POWER_W, or twice the zone's own highest power limit when that is larger."""
    limits_uw = []
    for limit in zone_dir.glob("constraint_*_max_power_uw"):
        text = _read(limit)
        if text.isdigit():
            limits_uw.append(int(text))
    return max([ASSUMED_MAX_POWER_W] + [2 * uw / 1e6 for uw in limits_uw])


def _zone(zone_dir: Path, label: str) -> RaplZone:
    range_text = _read(zone_dir / "max_energy_range_uj")
    if not range_text.isdigit() or int(range_text) <= 0:
        raise EnergyUnavailable(f"{zone_dir / 'max_energy_range_uj'} holds {range_text!r}, not a positive integer")
    return RaplZone(label, zone_dir, int(range_text), _assumed_power_w(zone_dir))


def _numbered(folder: Path, pattern: re.Pattern[str]) -> list[tuple[int, Path]]:
    found = [(int(m.group(1)), entry) for entry in folder.iterdir() if (m := pattern.match(entry.name))]
    return sorted(found)


def find_zones(root: Path = POWERCAP_ROOT) -> list[RaplZone]:
    """The package and DRAM zones under `root`, in package order; EnergyUnavailable when none."""
    if not root.is_dir():
        raise EnergyUnavailable(
            f"{root} does not exist",
            "RAPL needs Linux with the powercap RAPL driver (`sudo modprobe intel_rapl_msr`); "
            "virtual machines and some containers hide it; or set measure.energy to none",
        )
    zones: list[RaplZone] = []
    seen: set[Path] = set()
    for _, top in _numbered(root, _TOP_ZONE):
        name = _read(top / "name")
        if name.startswith("package"):
            candidates = [(top, name)]
            sub_pattern = re.compile(rf"^{re.escape(top.name)}:(\d+)$")
            for _, sub in _numbered(top, sub_pattern):
                if _read(sub / "name") == "dram":
                    candidates.append((sub, f"{name}/dram"))
        elif name == "dram":
            candidates = [(top, name)]
        else:
            continue  # psys and anything unknown: not summed
        for folder, label in candidates:
            if folder.resolve() not in seen:
                seen.add(folder.resolve())
                zones.append(_zone(folder, label))
    if not zones:
        raise EnergyUnavailable(
            f"no RAPL package zone under {root}",
            "RAPL needs an Intel CPU or an AMD CPU of family 17h or later, with the powercap RAPL driver "
            "(`sudo modprobe intel_rapl_msr`); or set measure.energy to none",
        )
    return zones


class RaplEnergySource:
    """Sum of every package and DRAM counter, in joules since it was opened.

    Thread-safe: a background reader (see `select.EnergyWindow`) and the window edges may read
    it at the same time; each reading updates every zone's wrap accounting under one lock.
    """

    name = "rapl"

    def __init__(self, zones: list[RaplZone]) -> None:
        self._zones = zones
        self._lock = threading.Lock()
        self._counters = [WrappingCounter(self._first(zone), zone.max_energy_range_uj, zone.label) for zone in zones]
        self.max_read_interval_s = min(zone.wrap_time_s for zone in zones)

    @staticmethod
    def _first(zone: RaplZone) -> int:
        try:
            return zone.read_uj()
        except PermissionError as exc:
            raise EnergyUnavailable(
                f"{zone.path / 'energy_uj'} is readable only by root (Linux restricts RAPL since 5.10)", _PERMISSION_FIX
            ) from exc
        except (OSError, ValueError) as exc:
            raise EnergyUnavailable(f"cannot read {zone.path / 'energy_uj'} ({exc})", _PERMISSION_FIX) from exc

    @classmethod
    def open(cls, root: Path = POWERCAP_ROOT) -> RaplEnergySource:
        """Find the zones under `root` and read each once; EnergyUnavailable when that fails."""
        return cls(find_zones(Path(root)))

    def read_j(self) -> float:
        with self._lock:
            total_uj = sum(
                counter.update(zone.read_uj()) for zone, counter in zip(self._zones, self._counters, strict=True)
            )
        return total_uj / 1e6

    def describe(self) -> dict:
        return {
            "source": self.name,
            "zones": [
                {
                    "zone": zone.label,
                    "path": str(zone.path),
                    "max_energy_range_uj": zone.max_energy_range_uj,
                    "assumed_max_power_w": zone.assumed_max_power_w,
                    "wrap_time_s": zone.wrap_time_s,
                }
                for zone in self._zones
            ],
            "max_read_interval_s": self.max_read_interval_s,
            "scope": "whole CPU sockets and their DRAM, every process",
        }

    def close(self) -> None:
        """Nothing is held open: each reading opens and closes its files."""
