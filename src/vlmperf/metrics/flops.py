"""FLOPs of a local generate call: a count per sample, and the rate it was achieved at.

Counted with torch's FlopCounterMode in a pass of its own, outside every timed window
(`vlmperf.meters.flops`), once per distinct batch of a cell (the timed runs cycle through the
same batches); the record of every timed run of that batch carries the count. Only matrix
products and attention are counted (norms, activations and softmax are not), the same as the
analytic count it is checked against: 2 x parameters x tokens plus attention.
"""

from __future__ import annotations

from vlmperf.metrics.definitions import Record, metric


def _per_sample(record: Record, part: str) -> list[float | None]:
    flops = record.get("flops")
    if flops is None:
        return [None] * record["batch_size"]
    share = flops[part] / record["batch_size"]
    return [share] * record["batch_size"]


@metric("flops", "FLOP", "sample")
def _flops(record: Record) -> list[float | None]:
    """prefill_flops + decode_flops of one sample: a count of floating-point operations, not a rate."""
    flops = record.get("flops")
    if flops is None:
        return [None] * record["batch_size"]
    return [(flops["prefill"] + flops["decode"]) / record["batch_size"]] * record["batch_size"]


@metric("prefill_flops", "FLOP", "sample")
def _prefill_flops(record: Record) -> list[float | None]:
    """FLOPs of the generate call's first forward pass (vision tower, projector, the prompt through
    the language model, the lm head) / batch_size: a sample's share of the batch, its padding included."""
    return _per_sample(record, "prefill")


@metric("decode_flops", "FLOP", "sample")
def _decode_flops(record: Record) -> list[float | None]:
    """FLOPs of every later forward pass of the generate call / batch_size."""
    return _per_sample(record, "decode")


@metric("flops_per_s", "FLOP/s")
def _flops_per_s(record: Record) -> list[float | None]:
    """The batch's counted FLOPs (prefill + decode) / latency_s of its timed run: the rate achieved."""
    flops = record.get("flops")
    if flops is None:
        return [None]
    return [(flops["prefill"] + flops["decode"]) / record["latency_s"]]


@metric("mfu", "ratio")
def _mfu(record: Record) -> list[float | None]:
    """Model FLOPs utilisation: flops_per_s / the device's peak dense throughput for the model's dtype
    (`vlmperf.meters.gpu_peaks`); null on CPU and on devices whose peak is not in the table."""
    flops, peak = record.get("flops"), record.get("peak_flops_per_s")
    if flops is None or not peak:
        return [None]
    return [(flops["prefill"] + flops["decode"]) / record["latency_s"] / peak]
