"""The physical lower bound beside each local figure, and how far the measurement is from it.

A generate call cannot be faster than its prompt pass's FLOPs at the device's peak FLOP/s, plus
its decode steps' bytes at the device's peak memory bandwidth (decoding one token per row is
bound by reading the weights and the cache, not by arithmetic: the roofline model). The FLOPs
are the record's count (`metrics.flops`), the bytes its `bytes` (`meters.memory_traffic`), the
peaks the device's (`meters.device_peaks`: the datasheet table on GPU, the target's
`peak_flops_per_s` / `peak_memory_bandwidth_bytes_per_s` where given). A figure whose input is
missing is null; the cell's info says which peak is missing and why.
"""

from __future__ import annotations

from vlmperf.metrics.definitions import Record, metric


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    return None if numerator is None or not denominator else numerator / denominator


def _part(record: Record, field: str, phase: str) -> float | None:
    values = record.get(field)
    return None if values is None else values[phase]


def _limit_prefill(record: Record) -> float | None:
    return _ratio(_part(record, "flops", "prefill"), record.get("peak_flops_per_s"))


def _limit_decode(record: Record) -> float | None:
    return _ratio(_part(record, "bytes", "decode"), record.get("peak_memory_bandwidth_bytes_per_s"))


def _limit_latency(record: Record) -> float | None:
    prefill, decode = _limit_prefill(record), _limit_decode(record)
    return None if prefill is None or decode is None else prefill + decode


@metric("limit_prefill_s", "s", better=None)  # the ideal of the work and the device, not a result
def _limit_prefill_s(record: Record) -> list[float | None]:
    """The prompt pass's floor: prefill FLOPs of the batch (vision tower and projector included) /
    the device's peak FLOP/s in the model's dtype."""
    return [_limit_prefill(record)]


@metric("limit_decode_s", "s", better=None)  # the ideal of the work and the device, not a result
def _limit_decode_s(record: Record) -> list[float | None]:
    """The decode steps' floor: the bytes every decode step must read (the language model's weights
    once, the key/value cache of every position each row attends to), summed over the steps / the
    device's peak memory bandwidth."""
    return [_limit_decode(record)]


@metric("limit_latency_s", "s", better=None)  # the ideal of the work and the device, not a result
def _limit_latency_s(record: Record) -> list[float | None]:
    """limit_prefill_s + limit_decode_s: the fastest the device could run this generate call."""
    return [_limit_latency(record)]


@metric("limit_ratio", "ratio", better="lower")  # 1 is the limit: lower is closer to it
def _limit_ratio(record: Record) -> list[float | None]:
    """latency_s / limit_latency_s: how many times its physical floor the call took (1 is the roof;
    a decode-heavy call far above it is launch- or overhead-bound, not bandwidth-bound)."""
    return [_ratio(record["latency_s"], _limit_latency(record))]


@metric("mbu", "ratio")
def _mbu(record: Record) -> list[float | None]:
    """Memory-bandwidth utilisation of decoding: the decode steps' bytes / (latency_s - ttft_s) / the
    device's peak memory bandwidth (the achieved bandwidth over the time per output token after the
    first, as tpot_s times it). Null with one generated token."""
    decode_bytes, ttft = _part(record, "bytes", "decode"), record.get("ttft_s")
    if decode_bytes is None or ttft is None or record.get("decode_steps", 0) < 2:
        return [None]
    achieved = _ratio(decode_bytes, record["latency_s"] - ttft)
    return [_ratio(achieved, record.get("peak_memory_bandwidth_bytes_per_s"))]


@metric("arithmetic_intensity_flop_per_byte", "FLOP/B")
def _arithmetic_intensity_flop_per_byte(record: Record) -> list[float | None]:
    """The call's FLOPs (prefill + decode) / the bytes it must move (prefill + decode, as in
    limit_decode_s; the prompt pass reads every weight once and writes its cache): where the call
    sits on the device's roofline (below peak FLOP/s ÷ peak bandwidth it is bandwidth-bound)."""
    flops, moved = record.get("flops"), record.get("bytes")
    if flops is None or moved is None:
        return [None]
    return [_ratio(flops["prefill"] + flops["decode"], moved["prefill"] + moved["decode"])]
