"""Metrics of the output text, defined once for every target kind: each kind's records carry the decoded
texts (`outputs`) and, for caption tasks, the captions counted in each (`captions`)."""

from __future__ import annotations

from vlmperf.metrics.definitions import ANY_KIND, Record, metric

EVERY_KIND = (ANY_KIND,)


@metric("output_chars", "chars", "sample", EVERY_KIND)
def _output_chars(record: Record) -> list[float | None]:
    """Characters in one sample's output text, as scored: the decoded generation (special tokens
    removed) of a local model, the first choice's content of an endpoint's answer."""
    return [len(text) if text is not None else None for text in record.get("outputs") or []]


@metric("output_words", "words", "sample", EVERY_KIND)
def _output_words(record: Record) -> list[float | None]:
    """Whitespace-separated words in one sample's decoded output text."""
    return [len(text.split()) if text is not None else None for text in record.get("outputs") or []]


@metric("captions_per_request", "captions", "sample", EVERY_KIND)
def _captions(record: Record) -> list[float | None]:
    """Captions in one response, for tasks whose answers are captions: with n > 1 choices, the
    non-empty choices; otherwise the items of the numbered or bulleted list the response holds
    (reasoning in <think> blocks dropped), or 1 for a non-empty response with no list, 0 for an
    empty one (vlmperf.metrics.caption_list). Absent for other tasks and for failed requests."""
    return list(record.get("captions") or [])
