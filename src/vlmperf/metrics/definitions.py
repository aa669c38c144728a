"""Every metric vlmperf reports, defined once: name (the public schema), unit, level and formula.

A metric reads measurement records (one per measured generate call over a batch) and yields
values: one per record (`level="batch"`) or one per sample in the record (`level="sample"`).
The docstring of each extractor is its definition; docs/metrics.md is generated from them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

Record = dict[str, Any]


@dataclass(frozen=True)
class Metric:
    name: str
    unit: str
    level: Literal["batch", "sample"]
    extract: Callable[[Record], list[float | None]]

    @property
    def definition(self) -> str:
        return " ".join((self.extract.__doc__ or "").split())

    def values(self, records: Iterable[Record]) -> list[float | None]:
        return [value for record in records for value in self.extract(record)]


METRICS: dict[str, Metric] = {}


def metric(name: str, unit: str, level: Literal["batch", "sample"] = "batch"):
    """Register an extractor as the one definition of a metric."""

    def register(extract: Callable[[Record], list[float | None]]) -> Callable[[Record], list[float | None]]:
        if name in METRICS:
            raise ValueError(f"metric {name} is defined twice")
        METRICS[name] = Metric(name, unit, level, extract)
        return extract

    return register


@metric("latency_s", "s")
def _latency(record: Record) -> list[float | None]:
    """Wall time of one generate call over a batch, from the mark before it to the mark after it,
    read after one device synchronisation (CUDA events on GPU, perf_counter_ns on CPU).
    Preprocessing and copying inputs to the device are outside it."""
    return [record["latency_s"]]


@metric("latency_per_sample_s", "s")
def _latency_per_sample(record: Record) -> list[float | None]:
    """latency_s / batch_size: the share of a batch's latency that falls on each of its samples."""
    return [record["latency_s"] / record["batch_size"]]


@metric("ttft_s", "s")
def _ttft(record: Record) -> list[float | None]:
    """Time to first token: from the start of the generate call to the moment generate hands over the
    first generated token of the batch (prefill, including the vision encoder, plus one sampling step)."""
    return [record["ttft_s"]]


@metric("tpot_s", "s")
def _tpot(record: Record) -> list[float | None]:
    """Time per output token after the first: (latency_s - ttft_s) / (decode_steps - 1), where
    decode_steps is the number of tokens the batch generated per row (its longest output).
    Null when only one token was generated."""
    steps = record["decode_steps"]
    if record["ttft_s"] is None or steps < 2:
        return [None]
    return [(record["latency_s"] - record["ttft_s"]) / (steps - 1)]


@metric("throughput_samples_per_s", "1/s")
def _throughput_samples(record: Record) -> list[float | None]:
    """batch_size / latency_s of one generate call."""
    return [record["batch_size"] / record["latency_s"]]


@metric("throughput_output_tokens_per_s", "1/s")
def _throughput_tokens(record: Record) -> list[float | None]:
    """Sum of output_tokens over the batch / latency_s of one generate call."""
    return [sum(record["output_tokens"]) / record["latency_s"]]


@metric("input_tokens", "tokens", "sample")
def _input_tokens(record: Record) -> list[float | None]:
    """Tokens the language model reads for one sample: the templated prompt with its vision tokens,
    padding excluded (the sum of its attention mask), from the model's own tokenizer and processor."""
    return list(record["input_tokens"])


@metric("vision_tokens", "tokens", "sample")
def _vision_tokens(record: Record) -> list[float | None]:
    """Image placeholder tokens in one sample's input (the processor's image token), part of input_tokens."""
    return list(record["vision_tokens"])


@metric("output_tokens", "tokens", "sample")
def _output_tokens(record: Record) -> list[float | None]:
    """Tokens generated for one sample, up to and including its first end-of-sequence token;
    the padding generate adds after it is not counted."""
    return list(record["output_tokens"])


@metric("input_truncated_tokens", "tokens", "sample")
def _truncated(record: Record) -> list[float | None]:
    """Text tokens cut from one sample's prompt to fit workload.max_input_len (0 when it fit or no
    budget was set), counted with the model's tokenizer before the chat template is applied."""
    return list(record["truncated_tokens"])


@metric("output_chars", "chars", "sample")
def _output_chars(record: Record) -> list[float | None]:
    """Characters in one sample's decoded output text (special tokens removed), as scored."""
    return [len(text) if text is not None else None for text in record.get("outputs") or []]


@metric("output_words", "words", "sample")
def _output_words(record: Record) -> list[float | None]:
    """Whitespace-separated words in one sample's decoded output text."""
    return [len(text.split()) if text is not None else None for text in record.get("outputs") or []]


@metric("captions_per_request", "captions", "sample")
def _captions(record: Record) -> list[float | None]:
    """Captions in one response, for tasks whose answers are captions: the items of the numbered or
    bulleted list the response holds (reasoning in <think> blocks dropped), or 1 for a non-empty
    response with no list, 0 for an empty one (vlmperf.metrics.caption_list). Absent for other tasks."""
    return list(record.get("captions") or [])


@metric("peak_memory_bytes", "B")
def _peak_memory(record: Record) -> list[float | None]:
    """Peak memory during one generate call: CUDA max allocated bytes (reset before the call) on GPU;
    the process's peak resident set size on CPU, reset before the call where Linux allows it
    (source rss_peak_window), else the lifetime peak (rss_peak_lifetime)."""
    return [record["peak_memory_bytes"]]


@metric("preprocess_s", "s")
def _preprocess(record: Record) -> list[float | None]:
    """Time to turn a batch of samples into model inputs: prompt truncation, chat template, the
    processor (image transforms and tokenisation) and the copy to the device. Outside latency_s."""
    return [record["preprocess_s"]]
