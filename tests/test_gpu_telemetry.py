"""GPU telemetry: reason bitmasks decoded with pynvml's own constants, every field read through a
fake NVML binding, and None (never an exception) where NVML cannot answer.

There is no GPU here: the real pynvml is installed but finds no driver. The fake below is a
pynvml-shaped object (pynvml's constants and exception classes, device calls answered from a dict)
so the reading and unit conversion run for real; the last tests call the real binding.
"""

from __future__ import annotations

import sys
import types

import pynvml
import pytest

from vlmperf.meters.gpu_telemetry import decode_reasons, gpu_telemetry, reason_names, telemetry_or_reason

from fixtures.nvml_driver import NO_DRIVER


def test_reasons_are_decoded_with_the_bindings_names():
    mask = pynvml.nvmlClocksEventReasonSwPowerCap | pynvml.nvmlClocksEventReasonHwThermalSlowdown
    assert decode_reasons(mask, pynvml) == ["sw_power_cap", "hw_thermal_slowdown"]
    assert decode_reasons(pynvml.nvmlClocksEventReasonNone, pynvml) == []
    assert decode_reasons(pynvml.nvmlClocksEventReasonGpuIdle, pynvml) == ["gpu_idle"]


def test_bits_only_the_older_family_names_and_unknown_bits():
    """A bit a binding names only in the older family (nvmlClocksThrottleReason*) still decodes;
    built here, as bindings differ in which older names they still carry."""
    binding = types.SimpleNamespace(
        nvmlClocksEventReasonGpuIdle=0x1, nvmlClocksThrottleReasonGpuIdle=0x1, nvmlClocksThrottleReasonBoardLimit=0x80
    )
    assert decode_reasons(0x81, binding) == ["gpu_idle", "board_limit"]
    assert decode_reasons(1 << 40, pynvml) == ["unknown_0x10000000000"]


def test_aliases_and_masks_are_not_reasons():
    names = reason_names(pynvml)
    assert names[pynvml.nvmlClocksEventReasonApplicationsClocksSetting] == "applications_clocks_setting"
    assert "all" not in names.values() and "none" not in names.values() and "user_defined_clocks" not in names.values()


class FakeTelemetryNvml(types.SimpleNamespace):
    """One GPU at PCI 00000000:41:00.0; `fails` maps a call name to the NVMLError it raises."""

    def __init__(self, fails: dict[str, Exception] | None = None) -> None:
        super().__init__(**{k: v for k, v in vars(pynvml).items() if k.startswith(("NVML", "nvmlClocks"))})
        self.fails, self.active, self.gpu = fails or {}, 0, object()

    def _answer(self, call: str, value):
        if call in self.fails:
            raise self.fails[call]
        return value

    def nvmlInit(self):
        self.active += 1

    def nvmlShutdown(self):
        self.active -= 1

    def nvmlDeviceGetHandleByPciBusId(self, address):
        if address != "00000000:41:00.0":
            raise pynvml.NVMLError_NotFound()
        return self.gpu

    def nvmlDeviceGetName(self, handle):
        return self._answer("name", "NVIDIA H100 80GB HBM3")

    def nvmlDeviceGetUUID(self, handle):
        return self._answer("uuid", "GPU-bbbb-2222")

    def nvmlSystemGetDriverVersion(self):
        return self._answer("driver", b"570.86.15")  # old bindings return bytes

    def nvmlDeviceGetClockInfo(self, handle, kind):
        return {pynvml.NVML_CLOCK_SM: 1755, pynvml.NVML_CLOCK_MEM: 2619}[kind]

    def nvmlDeviceGetMaxClockInfo(self, handle, kind):
        return {pynvml.NVML_CLOCK_SM: 1980, pynvml.NVML_CLOCK_MEM: 2619}[kind]

    def nvmlDeviceGetTemperatureV(self, handle, sensor):
        assert sensor == pynvml.NVML_TEMPERATURE_GPU
        return self._answer("temperatureV", 61)

    def nvmlDeviceGetTemperature(self, handle, sensor):
        return self._answer("temperature", 60)

    def nvmlDeviceGetPowerUsage(self, handle):
        return self._answer("power", 312_456)  # milliwatts

    def nvmlDeviceGetEnforcedPowerLimit(self, handle):
        return 700_000

    def nvmlDeviceGetPersistenceMode(self, handle):
        return pynvml.NVML_FEATURE_ENABLED

    def nvmlDeviceGetCurrentClocksEventReasons(self, handle):
        return self._answer("events", pynvml.nvmlClocksEventReasonSwPowerCap)

    def nvmlDeviceGetCurrentClocksThrottleReasons(self, handle):
        return pynvml.nvmlClocksEventReasonSwThermalSlowdown  # the same bit under either family's name


def _props(index):
    return types.SimpleNamespace(pci_domain_id=0, pci_bus_id=0x41, pci_device_id=0, uuid="bbbb-2222")


def test_every_field_with_units_converted():
    fake = FakeTelemetryNvml()
    telemetry = gpu_telemetry("cuda:0", nvml=fake, device_properties=_props)
    assert telemetry == {
        "device": "cuda:0",
        "matched_by": "pci_bus_id",
        "pci_bus_id": "00000000:41:00.0",
        "gpu_name": "NVIDIA H100 80GB HBM3",
        "uuid": "GPU-bbbb-2222",
        "driver_version": "570.86.15",
        "sm_clock_mhz": 1755,
        "sm_clock_max_mhz": 1980,
        "memory_clock_mhz": 2619,
        "memory_clock_max_mhz": 2619,
        "temperature_c": 61,
        "power_draw_w": pytest.approx(312.456),
        "power_limit_w": 700.0,
        "persistence_mode": True,
        "clock_event_reasons_mask": pynvml.nvmlClocksEventReasonSwPowerCap,
        "clock_event_reasons": ["sw_power_cap"],
        "unavailable": {},
    }
    assert fake.active == 0


def test_older_driver_falls_back_to_the_older_calls():
    fake = FakeTelemetryNvml(
        {"events": pynvml.NVMLError_FunctionNotFound(), "temperatureV": pynvml.NVMLError_FunctionNotFound()}
    )
    telemetry = gpu_telemetry("cuda:0", nvml=fake, device_properties=_props)
    assert telemetry["clock_event_reasons"] == ["sw_thermal_slowdown"]
    assert telemetry["temperature_c"] == 60
    assert telemetry["unavailable"] == {}


def test_older_binding_without_the_newer_functions():
    """Older nvidia-ml-py releases have neither nvmlDeviceGetCurrentClocksEventReasons nor
    nvmlDeviceGetTemperatureV: the attribute is missing, not failing."""
    fake = FakeTelemetryNvml()
    hidden = {"nvmlDeviceGetTemperatureV", "nvmlDeviceGetCurrentClocksEventReasons"}
    binding = types.SimpleNamespace(
        **{name: getattr(fake, name) for name in dir(fake) if not name.startswith("_") and name not in hidden}
    )
    telemetry = gpu_telemetry("cuda:0", nvml=binding, device_properties=_props)
    assert telemetry["clock_event_reasons"] == ["sw_thermal_slowdown"]
    assert telemetry["temperature_c"] == 60


def test_unsupported_field_is_none_with_nvmls_reason():
    fake = FakeTelemetryNvml({"power": pynvml.NVMLError_NotSupported()})
    telemetry = gpu_telemetry("cuda:0", nvml=fake, device_properties=_props)
    assert telemetry["power_draw_w"] is None
    assert telemetry["unavailable"] == {"power_draw_w": "Not Supported"}
    assert telemetry["power_limit_w"] == 700.0


def test_gpu_nvml_cannot_find_gives_none_and_the_reason():
    fake = FakeTelemetryNvml()
    other = lambda index: types.SimpleNamespace(pci_domain_id=0, pci_bus_id=0x99, pci_device_id=0)  # noqa: E731
    telemetry, reason = telemetry_or_reason("cuda:0", nvml=fake, device_properties=other)
    assert telemetry is None and "cannot find cuda:0" in reason
    assert fake.active == 0


@pytest.mark.skipif(not NO_DRIVER, reason="an NVIDIA driver is installed here")
def test_real_binding_without_a_driver_gives_none():
    """A machine where pynvml is installed and libnvidia-ml.so.1 is not (the test machines)."""
    assert gpu_telemetry("cuda:0") is None
    telemetry, reason = telemetry_or_reason("cuda:0")
    assert telemetry is None and "NVML did not start" in reason


@pytest.mark.skipif(NO_DRIVER, reason="needs an NVIDIA driver and a GPU")
def test_real_gpu_telemetry():
    telemetry = gpu_telemetry("cuda:0")
    assert telemetry["gpu_name"] and telemetry["driver_version"]
    assert telemetry["sm_clock_max_mhz"] >= telemetry["sm_clock_mhz"] > 0
    assert isinstance(telemetry["clock_event_reasons"], list)


def test_cpu_device_and_missing_binding_give_none(monkeypatch):
    assert gpu_telemetry("cpu") is None
    monkeypatch.setitem(sys.modules, "pynvml", None)
    telemetry, reason = telemetry_or_reason("cuda")
    assert telemetry is None and "nvidia-ml-py is not installed" in reason
