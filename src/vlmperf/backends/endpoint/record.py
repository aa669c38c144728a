"""The stored record of one endpoint request: its timings in seconds, counts, outputs and error.

Times are seconds relative to the request's own start (the final attempt's), except
`scheduled_s` and `started_s`, which are relative to the cell's start so that the schedule can be
checked (`scheduler_lateness_s` = started − scheduled); the cell's `info.clock` gives that start on
the monotonic clock (`perf_counter_ns`) and on the wall clock. A server's logs know a request by
`started_unix_ns` (its start on the wall clock, through that same anchor), `request_id` (the
`X-Request-Id` sent) and `response_id` (the response's `id`).

The record is a TypedDict, as a local one: the plain dict the store serialises and the metrics read,
its shape checked where it is built.
"""

from __future__ import annotations

import itertools
from typing import Any, Literal, TypedDict

from vlmperf.backends.endpoint.client import Attempt, Retries
from vlmperf.backends.endpoint.requests import PreparedRequest
from vlmperf.metrics.caption_list import count_captions

NS = 1e9


class EndpointRecord(TypedDict):
    backend: Literal["endpoint"]
    batch_size: int
    sample_ids: list[str]
    outputs: list[str | None]
    choices: list[str]
    captions: list[int] | None
    scheduled_s: float
    started_s: float
    started_unix_ns: int
    request_id: str | None
    response_id: str | None
    in_flight: int
    request_sent_s: float | None
    headers_s: float | None
    ttft_s: float | None
    e2e_s: float | None
    end_s: float
    itl_s: list[float]
    chunk_chars: list[int]
    output_tokens: list[int | None]
    output_tokens_source: Literal["usage", "chunks"] | None
    input_tokens: list[int | None]
    cost_usd: float | None
    reasoning_chars: int
    response_bytes: int
    image_bytes: int
    image_pixels: int
    request_bytes: int
    status: int | None
    error: dict[str, Any] | None
    finish_reasons: list[str | None] | None
    served_by: str | None
    served_by_source: Literal["header", "requested"] | None
    retries: int
    rate_limited_wait_s: float
    retry_wait_s: float


def _output_tokens(attempt: Attempt) -> tuple[int | None, Literal["usage", "chunks"] | None]:
    """(count, source): the server's usage when it reports it, else the token-bearing chunks of a success."""
    reported = (attempt.usage or {}).get("completion_tokens")
    if reported is not None:
        return reported, "usage"
    return (len(attempt.token_ns), "chunks") if attempt.error is None else (None, None)


def _captions(texts: list[str]) -> int:
    """Captions in one answer: the non-empty choices when there are several, else the parsed list."""
    if len(texts) > 1:
        return sum(1 for text in texts if text.strip())
    return count_captions(texts[0] if texts else "")


def request_record(
    prepared: PreparedRequest,
    attempt: Attempt,
    retries: Retries,
    *,
    epoch_ns: int,
    epoch_unix_ns: int,
    scheduled_ns: int,
    answers_captions: bool,
    served_by_fallback: str | None,
    in_flight: int,
    price: tuple[float, float] | None = None,
    request_id: str | None = None,
) -> EndpointRecord:
    """Everything the endpoint metrics read, for one request."""
    start = attempt.start_ns
    texts = ["".join(attempt.texts[index]) for index in sorted(attempt.texts)]
    ok = attempt.error is None
    tokens = attempt.token_ns
    output_tokens, source = _output_tokens(attempt)
    input_tokens = (attempt.usage or {}).get("prompt_tokens")
    cost = None
    if price is not None and input_tokens is not None and output_tokens is not None and source == "usage":
        cost = (input_tokens * price[0] + output_tokens * price[1]) / 1e6
    served_by = next(iter(attempt.headers.values()), None)
    served_by_source: Literal["header", "requested"] | None = (
        "header" if served_by else ("requested" if served_by_fallback else None)
    )
    return {
        "backend": "endpoint",
        "batch_size": 1,
        "sample_ids": [prepared.sample_id],
        "outputs": [texts[0] if texts else ""] if ok else [None],
        "choices": texts,
        "captions": [_captions(texts)] if ok and answers_captions else None,
        "scheduled_s": (scheduled_ns - epoch_ns) / NS,
        "started_s": (start - epoch_ns) / NS,
        "started_unix_ns": epoch_unix_ns + (start - epoch_ns),
        "request_id": request_id,
        "response_id": attempt.response_id,
        "in_flight": in_flight,
        "request_sent_s": (attempt.sent_ns - start) / NS if attempt.sent_ns else None,
        "headers_s": (attempt.headers_ns - start) / NS if attempt.headers_ns else None,
        "ttft_s": (tokens[0] - start) / NS if ok and tokens else None,
        "e2e_s": (tokens[-1] - start) / NS if ok and tokens else None,
        "end_s": (attempt.end_ns - start) / NS,
        "itl_s": [(b - a) / NS for a, b in itertools.pairwise(tokens)] if ok else [],
        "chunk_chars": list(attempt.token_chars),
        "output_tokens": [output_tokens],
        "output_tokens_source": source,
        "input_tokens": [input_tokens],
        "cost_usd": cost,
        "reasoning_chars": attempt.reasoning_chars,
        "response_bytes": attempt.response_bytes,
        "image_bytes": prepared.image_bytes,
        "image_pixels": prepared.image_pixels,
        "request_bytes": len(prepared.body),
        "status": attempt.status,
        "error": attempt.error,
        "finish_reasons": [attempt.finish_reasons.get(i) for i in sorted(attempt.texts)] or None,
        "served_by": served_by or served_by_fallback,
        "served_by_source": served_by_source,
        "retries": retries["retries"],
        "rate_limited_wait_s": retries["rate_limited_wait_s"],
        "retry_wait_s": retries["retry_wait_s"],
    }
