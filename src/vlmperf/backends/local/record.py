"""The stored record of one timed generate call over a batch: what every local metric reads.

A TypedDict, so the record stays the plain dict the store serialises and the metrics index (no cost
on the measured path), while its shape is checked where it is built and read. Per-sample fields are
lists in batch order (`sample_ids[i]`, `input_tokens[i]`, `outputs[i]`, ...). `energy`, `flops`,
`bytes` and (on CUDA) `stages` are added after the window has closed (`after_window`).
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict


class LocalRecord(TypedDict):
    batch_size: int
    started_unix_s: float
    sample_ids: list[str]
    latency_s: float
    ttft_s: float | None
    decode_steps: int
    preprocess_s: float
    stages: dict[str, float | None] | None
    stages_source: Literal["window", "replay"]
    peak_memory_bytes: int | None
    input_tokens: list[int]
    vision_tokens: list[int]
    truncated_tokens: list[int]
    truncated_fields: list[list[str]] | None
    output_tokens: list[int]
    outputs: list[str]
    captions: list[int] | None
    recompiles: int | None
    speculative: dict[str, Any] | None
    peak_flops_per_s: float | None
    peak_memory_bandwidth_bytes_per_s: float | None
    energy: dict[str, Any] | None
    flops: dict[str, Any] | None
    bytes: dict[str, int] | None
