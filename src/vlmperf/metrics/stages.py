"""Where a local generate call's time goes: the stage breakdown of every timed run.

Each timed run carries `stages`, taken by module hooks (`vlmperf.meters.stages`) that mark the
clock at each forward call's start and end, with no synchronisation per hook. On CPU the hooks run
inside the measured window itself (a mark reads the host clock: about 1% of a tiny model's call);
on CUDA a mark is a recorded event, which cost a launch-bound model 4% of its latency, so the
first timed run of each distinct shape is replayed once with the hooks after the window, and its
stages stand for every run of that shape (`stages_source`: `window` or `replay`;
`backends.local.after_window.stages_in_window`). generate_overhead_s is relative to the latency of the call
the stages were taken in.
"""

from __future__ import annotations

from vlmperf.metrics.definitions import Record, metric


def _stage(record: Record, name: str) -> list[float | None]:
    stages = record.get("stages")
    return [None if stages is None else stages.get(name)]


@metric("vision_s", "s")
def _vision(record: Record) -> list[float | None]:
    """Time inside the vision tower's forward calls during one generate call (null for a text-only model)."""
    return _stage(record, "vision_s")


@metric("projector_s", "s")
def _projector(record: Record) -> list[float | None]:
    """Time inside the multimodal projector's forward calls during one generate call (null for a text-only model)."""
    return _stage(record, "projector_s")


@metric("prefill_s", "s")
def _prefill(record: Record) -> list[float | None]:
    """The model's first forward call of a generate call (the prompt pass, logits included), minus the
    vision and projector time inside it (transformers 5 encodes images before that call, so for
    LLaVA none is)."""
    return _stage(record, "prefill_s")


@metric("decode_s", "s")
def _decode(record: Record) -> list[float | None]:
    """The sum of the model's later forward calls of a generate call (one per generated token after the
    first; with speculative decoding, the verification passes)."""
    return _stage(record, "decode_s")


@metric("generate_overhead_s", "s")
def _overhead(record: Record) -> list[float | None]:
    """latency_s - (vision_s + projector_s + prefill_s + decode_s) of the call the stages were taken in
    (the timed run on CPU, its shape's replay on CUDA): generate's own work between forward calls
    (input preparation, logits processing, stopping checks; a draft model's forward calls with
    speculative decoding). With it the stages add up to that call's latency; on a tiny model it is a
    quarter of the time, on a 7B model under 1%."""
    return _stage(record, "generate_overhead_s")
