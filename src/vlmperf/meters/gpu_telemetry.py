"""What state a GPU was in: name, driver, clocks, temperature, power, and why its clocks are held back.

Stored in the run's manifest and beside each cell, because the same model on the same GPU runs
at different speeds when the GPU is hot, power-capped or clocked down: a figure without this
context cannot be compared with another. Read outside measured windows (starting NVML takes
milliseconds to hundreds of them).

Where NVML is not there (no nvidia-ml-py, no driver, not a cuda device) the answer is None, never
an exception. A single field a GPU does not support is None, with NVML's reason under
`unavailable`.

Clock-event (formerly "throttle") reasons are a bitmask; the names come from pynvml's own
`nvmlClocksEventReason*` constants, with the older `nvmlClocksThrottleReason*` ones filling the
bits the newer family lacks, written in snake_case ("sw_power_cap", "hw_thermal_slowdown").
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from vlmperf.meters.energy.counters import EnergyUnavailable
from vlmperf.meters.energy.nvml import as_text, load_nvml, nvml_handle, start_nvml, torch_device_properties

_REASON_PREFIXES = ("nvmlClocksEventReason", "nvmlClocksThrottleReason")  # newer names first
_NOT_A_REASON = {"None", "All", "UserDefinedClocks"}  # no bit, every bit, a deprecated alias


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def reason_names(nvml: Any) -> dict[int, str]:
    """Bit -> name, from the module's reason constants (single bits only)."""
    table: dict[int, str] = {}
    for prefix in _REASON_PREFIXES:
        for attr in sorted(dir(nvml)):
            suffix = attr[len(prefix) :]
            if not attr.startswith(prefix) or suffix in _NOT_A_REASON:
                continue
            bit = getattr(nvml, attr)
            if isinstance(bit, int) and bit > 0 and bit & (bit - 1) == 0:
                table.setdefault(bit, _snake(suffix))
    return table


def decode_reasons(mask: int, nvml: Any) -> list[str]:
    """The names of the bits set in `mask`, lowest bit first; an unknown bit as "unknown_0x...".
    An empty list means the clocks are not held back."""
    names = reason_names(nvml)
    bits = [1 << i for i in range(mask.bit_length()) if mask >> i & 1]
    return [names.get(bit, f"unknown_{bit:#x}") for bit in bits]


def first_that_works(nvml: Any, calls: list[Callable[[], Any]]) -> Any:
    """The first call that succeeds: newer NVML functions, then their older equivalents (an old
    driver answers FunctionNotFound, an old binding lacks the attribute). The last error is raised."""
    *older_first_tries, last = calls
    for call in older_first_tries:
        try:
            return call()
        except (AttributeError, nvml.NVMLError):
            continue  # the next, older call answers instead; its own error is the one reported
    return last()


def _readers(nvml: Any, handle: Any) -> dict[str, Callable[[], Any]]:
    sm, mem = nvml.NVML_CLOCK_SM, nvml.NVML_CLOCK_MEM
    gpu_sensor = nvml.NVML_TEMPERATURE_GPU
    return {
        "gpu_name": lambda: as_text(nvml.nvmlDeviceGetName(handle)),
        "uuid": lambda: as_text(nvml.nvmlDeviceGetUUID(handle)),
        "driver_version": lambda: as_text(nvml.nvmlSystemGetDriverVersion()),
        "sm_clock_mhz": lambda: nvml.nvmlDeviceGetClockInfo(handle, sm),
        "sm_clock_max_mhz": lambda: nvml.nvmlDeviceGetMaxClockInfo(handle, sm),
        "memory_clock_mhz": lambda: nvml.nvmlDeviceGetClockInfo(handle, mem),
        "memory_clock_max_mhz": lambda: nvml.nvmlDeviceGetMaxClockInfo(handle, mem),
        "temperature_c": lambda: first_that_works(
            nvml,
            [
                lambda: nvml.nvmlDeviceGetTemperatureV(handle, gpu_sensor),
                lambda: nvml.nvmlDeviceGetTemperature(handle, gpu_sensor),
            ],
        ),
        "power_draw_w": lambda: nvml.nvmlDeviceGetPowerUsage(handle) / 1e3,
        "power_limit_w": lambda: nvml.nvmlDeviceGetEnforcedPowerLimit(handle) / 1e3,
        "persistence_mode": lambda: bool(nvml.nvmlDeviceGetPersistenceMode(handle)),
        "clock_event_reasons_mask": lambda: int(
            first_that_works(
                nvml,
                [
                    lambda: nvml.nvmlDeviceGetCurrentClocksEventReasons(handle),
                    lambda: nvml.nvmlDeviceGetCurrentClocksThrottleReasons(handle),
                ],
            )
        ),
    }


def _read_fields(nvml: Any, handle: Any) -> dict:
    fields: dict[str, Any] = {}
    unavailable: dict[str, str] = {}
    for key, read in _readers(nvml, handle).items():
        try:
            fields[key] = read()
        except (AttributeError, nvml.NVMLError) as exc:
            fields[key] = None
            unavailable[key] = str(exc) or type(exc).__name__
    mask = fields["clock_event_reasons_mask"]
    fields["clock_event_reasons"] = None if mask is None else decode_reasons(mask, nvml)
    fields["unavailable"] = unavailable
    return fields


def telemetry_or_reason(
    device: str,
    *,
    nvml: Any = None,
    device_properties: Callable[[int | None], Any] = torch_device_properties,
) -> tuple[dict | None, str | None]:
    """(telemetry, None), or (None, why NVML could not say). `nvml`, `device_properties`: for tests."""
    if device.partition(":")[0] != "cuda":
        return None, f"{device} is not a CUDA device"
    try:
        nvml = load_nvml(nvml)
        start_nvml(nvml)
    except EnergyUnavailable as exc:
        return None, str(exc)
    try:
        handle, matched = nvml_handle(nvml, device, device_properties)
        return {"device": device, **matched, **_read_fields(nvml, handle)}, None
    except EnergyUnavailable as exc:
        return None, str(exc)
    finally:
        nvml.nvmlShutdown()


def gpu_telemetry(
    device: str,
    *,
    nvml: Any = None,
    device_properties: Callable[[int | None], Any] = torch_device_properties,
) -> dict | None:
    """The GPU's state for the manifest and each cell; None where NVML cannot tell."""
    return telemetry_or_reason(device, nvml=nvml, device_properties=device_properties)[0]
