"""FLOPs of a local generate call: a count per sample, and the rate it was achieved at.

Counted with torch's FlopCounterMode in a pass of its own, outside every timed window
(`vlmperf.meters.flops`), once per distinct shape of a cell's batches (`backends.local.flop_pass`); the
record of every timed run of that shape carries the count. Only matrix
products and attention are counted (norms, activations and softmax are not), the same as the
analytic count it is checked against: 2 x parameters x tokens plus attention.
"""

from __future__ import annotations

from vlmperf.metrics.definitions import Record, metric


def _batch_flops(record: Record) -> int | None:
    """The record's whole-batch count (prefill + decode), None where it was not counted."""
    flops = record.get("flops")
    return None if flops is None else flops["prefill"] + flops["decode"]


def _per_sample(record: Record, total: float | None) -> list[float | None]:
    share = None if total is None else total / record["batch_size"]
    return [share] * record["batch_size"]


@metric("flops", "FLOP", "sample")
def _flops(record: Record) -> list[float | None]:
    """prefill_flops + decode_flops of one sample: a count of floating-point operations, not a rate."""
    return _per_sample(record, _batch_flops(record))


@metric("prefill_flops", "FLOP", "sample")
def _prefill_flops(record: Record) -> list[float | None]:
    """FLOPs of the generate call's first forward pass (vision tower, projector, the prompt through
    the language model, the lm head) / batch_size: a sample's share of the batch, its padding included."""
    flops = record.get("flops")
    return _per_sample(record, None if flops is None else flops["prefill"])


@metric("decode_flops", "FLOP", "sample")
def _decode_flops(record: Record) -> list[float | None]:
    """FLOPs of every later forward pass of the generate call / batch_size."""
    flops = record.get("flops")
    return _per_sample(record, None if flops is None else flops["decode"])


@metric("flops_per_s", "FLOP/s")
def _flops_per_s(record: Record) -> list[float | None]:
    """The batch's counted FLOPs (prefill + decode) / latency_s of its timed run: the rate achieved."""
    total = _batch_flops(record)
    return [None if total is None else total / record["latency_s"]]


@metric("mfu", "ratio")
def _mfu(record: Record) -> list[float | None]:
    """Model FLOPs utilisation: flops_per_s / the device's peak dense throughput for the model's dtype
    (`vlmperf.meters.gpu_peaks`); null on CPU and on devices whose peak is not in the table."""
    (achieved,), peak = _flops_per_s(record), record.get("peak_flops_per_s")
    return [None if achieved is None or not peak else achieved / peak]
