"""Energy counters: wrap-around arithmetic, RAPL on a fake sysfs tree, NVML through a fake binding,
source selection, idle power and the measured window.

This machine has no GPU and no /sys/class/powercap, so the counters are replayed: RAPL from files
in tmp_path laid out as the kernel lays them out, NVML from a pynvml-shaped object that answers
with recorded millijoule readings and raises pynvml's own exception classes. The real pynvml is
installed but finds no driver; the tests that use it check that this gives "no source", not a crash.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import time
import types
from pathlib import Path

import pynvml
import pytest

from vlmperf.errors import InputError
from vlmperf.meters.energy import (
    CounterError,
    EnergyWindow,
    RaplEnergySource,
    WrappingCounter,
    measure_idle_power_w,
    open_energy_source,
)
from vlmperf.meters.energy.rapl import RaplZone, find_zones

from fixtures.nvml_driver import NO_DRIVER

PKG_RANGE = 262_143_328_850  # a real Intel package's max_energy_range_uj
DRAM_RANGE = 65_712_999_613  # a real server DRAM zone's


# ---------------------------------------------------------------- wrap-around arithmetic


def test_counter_accumulates_across_wraps():
    counter = WrappingCounter(90, modulus=100)
    totals = [counter.update(raw) for raw in (95, 3, 50, 99, 10)]
    assert totals == [5, 13, 60, 109, 120]
    assert counter.wraps == 2


def test_counter_that_cannot_wrap_refuses_to_go_backwards():
    counter = WrappingCounter(1_000, modulus=None, label="NVML total-energy counter")
    assert counter.update(1_500) == 500
    with pytest.raises(CounterError, match="went backwards.*reset"):
        counter.update(1_200)


def test_counter_rejects_a_reading_outside_its_range():
    with pytest.raises(CounterError, match="outside its range"):
        WrappingCounter(0, modulus=100).update(101)


# ---------------------------------------------------------------- RAPL on a fake sysfs tree


def _zone(folder: Path, name: str, energy_uj: int, range_uj: int, limit_uw: int | None = None) -> Path:
    folder.mkdir(parents=True)
    (folder / "name").write_text(f"{name}\n")
    (folder / "energy_uj").write_text(f"{energy_uj}\n")
    (folder / "max_energy_range_uj").write_text(f"{range_uj}\n")
    if limit_uw is not None:
        (folder / "constraint_0_max_power_uw").write_text(f"{limit_uw}\n")
    return folder


def _set(zone: Path, energy_uj: int) -> None:
    (zone / "energy_uj").write_text(f"{energy_uj}\n")


@pytest.fixture
def powercap(tmp_path: Path) -> dict[str, Path]:
    """Two packages with a DRAM sub-zone each, plus the zones that must not be summed: a core
    sub-zone (part of its package), psys (the whole platform), the MMIO duplicate of package 0,
    and the flat top-level link the kernel adds for every sub-zone."""
    root = tmp_path / "powercap"
    (root / "intel-rapl").mkdir(parents=True)
    zones = {
        "root": root,
        "pkg0": _zone(root / "intel-rapl:0", "package-0", PKG_RANGE - 2_000_000, PKG_RANGE, limit_uw=165_000_000),
        "core0": _zone(root / "intel-rapl:0" / "intel-rapl:0:0", "core", 5, PKG_RANGE),
        "dram0": _zone(root / "intel-rapl:0" / "intel-rapl:0:1", "dram", 1_000_000, DRAM_RANGE),
        "pkg1": _zone(root / "intel-rapl:1", "package-1", 7_000_000, PKG_RANGE),
        "dram1": _zone(root / "intel-rapl:1" / "intel-rapl:1:0", "dram", 2_000_000, DRAM_RANGE),
        "psys": _zone(root / "intel-rapl:2", "psys", 10, PKG_RANGE),
        "mmio": _zone(root / "intel-rapl-mmio:0", "package-0", 10, PKG_RANGE),
    }
    (root / "intel-rapl:0:1").symlink_to(zones["dram0"])
    return zones


def test_rapl_finds_packages_and_dram_only(powercap):
    zones = find_zones(powercap["root"])
    assert [zone.label for zone in zones] == ["package-0", "package-0/dram", "package-1", "package-1/dram"]
    assert zones[0].assumed_max_power_w == 500.0, "2 x 165 W is below the 500 W floor"
    assert zones[1].wrap_time_s == pytest.approx(DRAM_RANGE / 1e6 / 500.0)


def test_zone_with_a_high_power_limit_gets_a_shorter_wrap_time(tmp_path):
    root = tmp_path / "powercap"
    _zone(root / "intel-rapl:0", "package-0", 0, PKG_RANGE, limit_uw=400_000_000)
    (zone,) = find_zones(root)
    assert zone.assumed_max_power_w == 800.0
    assert RaplEnergySource([zone]).max_read_interval_s == pytest.approx(PKG_RANGE / 1e6 / 800.0)


def test_rapl_sums_every_package_and_dram_across_a_wrap_in_the_window(powercap):
    source = RaplEnergySource.open(powercap["root"])
    times = iter([0.0, 4.0])
    window = EnergyWindow(source, idle_power_w=100.0, clock=lambda: next(times), background=False)
    window.start()
    # package 0 passes its maximum and wraps: 2 J to the top, then 3 J more from zero
    _set(powercap["pkg0"], 3_000_000)
    _set(powercap["dram0"], 1_500_000)  # +0.5 J
    _set(powercap["pkg1"], 17_000_000)  # +10 J
    _set(powercap["dram1"], 2_250_000)  # +0.25 J
    _set(powercap["core0"], 999_999_999)  # part of package 0: must not count
    reading = window.stop()
    assert reading.source == "rapl"
    assert reading.energy_j == pytest.approx(5.0 + 0.5 + 10.0 + 0.25)
    assert reading.duration_s == 4.0
    assert reading.power_w == pytest.approx(15.75 / 4.0)
    assert reading.energy_above_idle_j == pytest.approx(15.75 - 400.0), "reported as measured, not clamped"
    assert source.describe()["zones"][0]["zone"] == "package-0"


def test_rapl_on_amd_layout_without_dram(tmp_path):
    """AMD CPUs (family 17h+) use the same driver and layout, one package zone and no DRAM."""
    root = tmp_path / "powercap"
    zone = _zone(root / "intel-rapl:0", "package-0", 100, PKG_RANGE)
    source = RaplEnergySource.open(root)
    _set(zone, 2_000_100)
    assert source.read_j() == pytest.approx(2.0)


def _make_unreadable(zone: Path, monkeypatch) -> None:
    """What a non-root user meets since Linux 5.10: energy_uj is mode 0400. Root reads through
    any mode, so under root the read is made to fail the same way."""
    (zone / "energy_uj").chmod(0)
    if os.geteuid() == 0:
        real = RaplZone.read_uj

        def read_uj(self: RaplZone) -> int:
            if self.path == zone:
                raise PermissionError(13, "Permission denied", str(zone / "energy_uj"))
            return real(self)

        monkeypatch.setattr(RaplZone, "read_uj", read_uj)


def test_unreadable_counter_gives_no_source_under_auto_with_the_reason(powercap, monkeypatch):
    _make_unreadable(powercap["dram1"], monkeypatch)
    source, reason = open_energy_source("cpu", "auto", powercap_root=powercap["root"])
    assert source is None
    assert "readable only by root" in reason and "sudo chmod a+r" in reason


def test_unreadable_counter_named_explicitly_is_an_input_error(powercap, monkeypatch):
    _make_unreadable(powercap["pkg0"], monkeypatch)
    with pytest.raises(InputError, match=r"measure.energy is rapl but .*readable only by root.*sudo chmod a\+r"):
        open_energy_source("cpu", "rapl", powercap_root=powercap["root"])


def test_no_powercap_folder(tmp_path):
    source, reason = open_energy_source("cpu", "auto", powercap_root=tmp_path / "missing")
    assert source is None and "does not exist" in reason
    with pytest.raises(InputError, match="modprobe intel_rapl_msr"):
        open_energy_source("cpu", "rapl", powercap_root=tmp_path / "missing")


def test_powercap_without_a_package_zone(tmp_path):
    _zone(tmp_path / "intel-rapl:0", "psys", 0, PKG_RANGE)
    with pytest.raises(InputError, match="no RAPL package zone"):
        open_energy_source("cpu", "rapl", powercap_root=tmp_path)


# ---------------------------------------------------------------- NVML through a fake binding


class FakeNvml(types.SimpleNamespace):
    """pynvml's constants and exception classes; the device calls answered from `gpus`, each a
    namespace with name, pci, uuid and energy_mj (readings replayed in order, or an NVMLError)."""

    def __init__(self, gpus: list[types.SimpleNamespace]) -> None:
        super().__init__(**{k: v for k, v in vars(pynvml).items() if k.startswith(("NVML", "nvmlClocks"))})
        self.gpus, self.active = gpus, 0

    def _find(self, field: str, value: str) -> types.SimpleNamespace:
        for gpu in self.gpus:
            if getattr(gpu, field) == value:
                return gpu
        raise pynvml.NVMLError_NotFound()

    def nvmlInit(self):
        self.active += 1

    def nvmlShutdown(self):
        self.active -= 1

    def nvmlDeviceGetHandleByPciBusId(self, address):
        return self._find("pci", address.lower())

    def nvmlDeviceGetHandleByUUID(self, uuid):
        return self._find("uuid", uuid)

    def nvmlDeviceGetName(self, gpu):
        return gpu.name

    def nvmlDeviceGetTotalEnergyConsumption(self, gpu):
        if isinstance(gpu.energy_mj, Exception):
            raise gpu.energy_mj
        return gpu.energy_mj.pop(0)


# Two GPUs in NVML's (PCI) order: A at bus 0x1b, B at bus 0x41.
GPU_A = dict(pci_domain_id=0, pci_bus_id=0x1B, pci_device_id=0, uuid="aaaa-1111")
GPU_B = dict(pci_domain_id=0, pci_bus_id=0x41, pci_device_id=0, uuid="bbbb-2222")


def visible_1_0(index):
    """torch.cuda.get_device_properties under CUDA_VISIBLE_DEVICES=1,0: torch's cuda:0 is the GPU
    NVML lists second, cuda:1 the first, so NVML's index would pick the wrong one."""
    return types.SimpleNamespace(**[GPU_B, GPU_A][index or 0])


def _two_gpus(energy_a, energy_b) -> FakeNvml:
    return FakeNvml(
        [
            types.SimpleNamespace(name="NVIDIA H100", pci="00000000:1b:00.0", uuid="GPU-aaaa-1111", energy_mj=energy_a),
            types.SimpleNamespace(name="NVIDIA H100", pci="00000000:41:00.0", uuid="GPU-bbbb-2222", energy_mj=energy_b),
        ]
    )


def test_nvml_replays_millijoules_of_the_gpu_torch_means():
    fake = _two_gpus([5, 5, 5], [1_000_000, 1_250_500, 1_900_000])
    source, reason = open_energy_source("cuda:0", "nvml", nvml=fake, device_properties=visible_1_0)
    assert reason is None and source.name == "nvml"
    assert source.read_j() == pytest.approx(250.5)
    assert source.read_j() == pytest.approx(900.0)
    assert source.describe()["pci_bus_id"] == "00000000:41:00.0" and source.describe()["matched_by"] == "pci_bus_id"
    assert math.isinf(source.max_read_interval_s)
    source.close()
    source.close()
    assert fake.active == 0, "nvmlInit and nvmlShutdown balance, however often close() is called"


def test_nvml_matches_by_uuid_when_torch_gives_no_pci_address():
    fake = _two_gpus([7, 7_007], [0])
    props = lambda index: types.SimpleNamespace(uuid="aaaa-1111")  # noqa: E731
    source, _ = open_energy_source("cuda", "auto", nvml=fake, device_properties=props)
    assert source.describe()["matched_by"] == "uuid" and source.describe()["uuid"] == "GPU-aaaa-1111"
    assert source.read_j() == pytest.approx(7.0)


def test_nvml_counter_reset_is_an_error():
    fake = _two_gpus([10_000, 9_000], [0])
    source, _ = open_energy_source("cuda:1", "nvml", nvml=fake, device_properties=visible_1_0)
    with pytest.raises(CounterError, match="went backwards"):
        source.read_j()


def test_gpu_without_the_energy_counter():
    fake = _two_gpus(pynvml.NVMLError_NotSupported(), [0])
    source, reason = open_energy_source("cuda:1", "auto", nvml=fake, device_properties=visible_1_0)
    assert source is None and "no total-energy counter" in reason and "Volta" in reason
    with pytest.raises(InputError, match="measure.energy is nvml but NVIDIA H100 has no total-energy counter"):
        open_energy_source("cuda:1", "nvml", nvml=fake, device_properties=visible_1_0)
    assert fake.active == 0, "a failed open shuts NVML down again"


def test_gpu_torch_sees_but_nvml_does_not():
    fake = _two_gpus([0], [0])
    props = lambda index: types.SimpleNamespace(pci_domain_id=0, pci_bus_id=0x99, pci_device_id=0, uuid="cccc")  # noqa: E731
    source, reason = open_energy_source("cuda:0", "auto", nvml=fake, device_properties=props)
    assert source is None and "PCI address 00000000:99:00.0" in reason and "UUID GPU-cccc" in reason
    assert fake.active == 0


@pytest.mark.skipif(not NO_DRIVER, reason="an NVIDIA driver is installed here")
def test_real_pynvml_without_a_driver_gives_no_source():
    """The real binding on a machine without the driver: NVML does not start."""
    source, reason = open_energy_source("cuda:0", "auto")
    assert source is None and "NVML did not start" in reason
    with pytest.raises(InputError, match="install the NVIDIA driver"):
        open_energy_source("cuda:0", "nvml")


@pytest.mark.skipif(NO_DRIVER, reason="needs an NVIDIA driver and a GPU of Volta or later")
def test_real_nvml_counter_on_a_gpu():
    source, reason = open_energy_source("cuda:0", "nvml")
    try:
        first = source.read_j()
        time.sleep(0.5)
        assert source.read_j() > first >= 0, "a powered GPU draws some energy in half a second"
    finally:
        source.close()


def test_missing_binding_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)  # what `import pynvml` meets when not installed
    assert "nvidia-ml-py is not installed" in open_energy_source("cuda", "auto")[1]
    with pytest.raises(InputError, match="pip install nvidia-ml-py"):
        open_energy_source("cuda", "nvml")


# ---------------------------------------------------------------- choosing a source


def test_source_choice_errors_and_none():
    assert open_energy_source("cuda:0", "none") == (None, "measure.energy is none")
    assert open_energy_source("mps", "auto")[0] is None
    with pytest.raises(InputError, match="NVML measures NVIDIA GPUs"):
        open_energy_source("cpu", "nvml")
    with pytest.raises(InputError, match="choose one of auto, nvml, rapl, none"):
        open_energy_source("cpu", "joulemeter")


def test_importing_the_package_loads_neither_torch_nor_pynvml():
    code = (
        "import sys, vlmperf.meters.energy, vlmperf.meters.gpu_telemetry; "
        "print('torch' in sys.modules, 'pynvml' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["False", "False"]


# ---------------------------------------------------------------- idle power and the window


class SteadySource:
    """A counter drawing `power_w` on a fake clock, wrapping every `interval_s` seconds."""

    name = "rapl"

    def __init__(self, power_w: float, interval_s: float = math.inf) -> None:
        self.now, self.power_w, self.max_read_interval_s = 0.0, power_w, interval_s
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def read_j(self) -> float:
        return self.power_w * self.now


def test_idle_power_is_counter_increase_over_elapsed_time():
    source = SteadySource(37.5)
    assert measure_idle_power_w(source, 2.0, sleep=source.sleep, clock=source.clock) == pytest.approx(37.5)
    assert source.sleeps == [2.0]


def test_idle_power_reads_often_enough_for_a_wrapping_counter():
    source = SteadySource(80.0, interval_s=2.0)
    assert measure_idle_power_w(source, 3.0, sleep=source.sleep, clock=source.clock) == pytest.approx(80.0)
    assert max(source.sleeps) <= 0.5 and sum(source.sleeps) == pytest.approx(3.0)
    with pytest.raises(ValueError):
        measure_idle_power_w(source, 0.0, sleep=source.sleep, clock=source.clock)


def test_window_without_a_source_reports_null_and_why():
    times = iter([1.0, 3.5])
    window = EnergyWindow(None, reason="rapl: /sys/class/powercap does not exist", clock=lambda: next(times))
    window.start()
    reading = window.stop()
    assert reading.as_dict() == {
        "energy_j": None,
        "energy_above_idle_j": None,
        "power_w": None,
        "idle_power_w": None,
        "duration_s": 2.5,
        "energy_source": "none",
        "energy_note": "rapl: /sys/class/powercap does not exist",
    }


def test_window_longer_than_the_safe_interval_gives_no_figure():
    source = SteadySource(50.0, interval_s=10.0)
    window = EnergyWindow(source, idle_power_w=20.0, clock=source.clock, background=False)
    window.start()
    source.now = 11.0
    reading = window.stop()
    assert reading.energy_j is None and reading.source == "rapl" and "wrap-around may be missing" in reading.note


class RecordingSource:
    """Counts its readings; each adds one joule."""

    name = "rapl"

    def __init__(self, max_read_interval_s: float) -> None:
        self.max_read_interval_s, self.reads = max_read_interval_s, 0

    def read_j(self) -> float:
        self.reads += 1
        return float(self.reads)


def test_background_reader_keeps_a_wrapping_counter_safe():
    """Real threads and time: a counter that must be read every second, a window of 0.6 s; the
    background reader reads every 0.25 s (margins wide enough for a busy machine)."""
    source = RecordingSource(max_read_interval_s=1.0)
    window = EnergyWindow(source, idle_power_w=0.0)
    window.start()
    time.sleep(0.6)
    reading = window.stop()
    assert source.reads >= 3, "the two edges and at least one background reading"
    assert reading.energy_j == pytest.approx(source.reads - 1)
    abandoned = EnergyWindow(source)
    abandoned.start()
    abandoned.cancel()
    assert abandoned._thread is None, "a cancelled window leaves no reader behind"


def test_window_passes_a_background_read_failure_to_the_caller():
    class Broken(RecordingSource):
        def read_j(self) -> float:
            if self.reads >= 1:
                raise OSError("energy_uj vanished")
            return super().read_j()

    window = EnergyWindow(Broken(max_read_interval_s=0.004))
    window.start()
    time.sleep(0.2)
    with pytest.raises(OSError, match="vanished"):
        window.stop()
