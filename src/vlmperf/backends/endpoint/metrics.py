"""Metrics of endpoint requests: one record per request (see `vlmperf.backends.endpoint.record`).

Timing metrics read the successful requests only (a failed request has no latency, it has an
error class, counted by the cell's `error_rate`); counts of bytes and images read every request.
"""

from __future__ import annotations

from vlmperf.metrics.definitions import Record, metric

ENDPOINT = ("endpoint",)


@metric("ttft_s", "s", targets=ENDPOINT)
def _ttft(record: Record) -> list[float | None]:
    """Time to first token: from the request start (body already serialised) to the arrival of the
    first chunk carrying non-empty content or reasoning; a role-only opening chunk is not a token.
    Non-streamed requests: the arrival of the whole body."""
    return [record["ttft_s"]]


@metric("e2e_s", "s", targets=ENDPOINT)
def _e2e(record: Record) -> list[float | None]:
    """End-to-end latency: from the request start to the arrival of the last chunk carrying content
    or reasoning (usage chunks and [DONE] after it are not waited for)."""
    return [record["e2e_s"]]


@metric("itl_s", "s", "gap", targets=ENDPOINT)
def _itl(record: Record) -> list[float | None]:
    """Inter-token latency: every gap between the arrivals of two consecutive chunks carrying content
    or reasoning, one value per gap (a chunk may carry several tokens; `chunk_chars` records its size)."""
    return list(record["itl_s"])


@metric("tpot_s", "s", targets=ENDPOINT)
def _tpot(record: Record) -> list[float | None]:
    """Time per output token after the first: (e2e_s - ttft_s) / (output_tokens - 1), with
    output_tokens from the server's usage when it reports it. Null where it is undefined: a failure,
    one output token, or every token in one chunk (a non-streamed answer, or all choices of `n` in
    one chunk), where e2e_s equals ttft_s and the quotient would read 0 s per token."""
    tokens = record["output_tokens"][0]
    if record["ttft_s"] is None or record["e2e_s"] is None or tokens is None or tokens < 2 or not record["itl_s"]:
        return [None]
    return [(record["e2e_s"] - record["ttft_s"]) / (tokens - 1)]


@metric("request_sent_s", "s", targets=ENDPOINT)
def _request_sent(record: Record) -> list[float | None]:
    """From the request start to the last byte of its body handed to the connection (aiohttp's
    request-chunk trace): connection set-up and upload, so large images show apart from ttft_s."""
    return [record["request_sent_s"]]


@metric("output_tokens", "tokens", "sample", targets=ENDPOINT)
def _output_tokens(record: Record) -> list[float | None]:
    """Tokens generated for one request: the server's usage.completion_tokens (all choices) when it
    reports it, else the number of content chunks (source recorded per request as
    output_tokens_source: usage or chunks)."""
    return list(record["output_tokens"])


@metric("input_tokens", "tokens", "sample", targets=ENDPOINT)
def _input_tokens(record: Record) -> list[float | None]:
    """Tokens the server counted in the prompt, images included (usage.prompt_tokens); null when the
    server does not report usage."""
    return list(record["input_tokens"])


@metric("response_bytes", "B", targets=ENDPOINT, better=None)  # the size of the answer, not its cost
def _response_bytes(record: Record) -> list[float | None]:
    """Bytes of the response body as received (stream lines or JSON body), headers excluded."""
    return [record["response_bytes"]]


@metric("image_bytes", "B", targets=ENDPOINT, better=None)  # the work sent
def _image_bytes(record: Record) -> list[float | None]:
    """Bytes of the encoded images sent inline with one request (before base64); 0 for images sent by URL."""
    return [record["image_bytes"]]


@metric("image_pixels", "px", targets=ENDPOINT)
def _image_pixels(record: Record) -> list[float | None]:
    """Pixels (width x height, summed over images) of the images one request carries."""
    return [record["image_pixels"]]


@metric("retries", "requests", targets=ENDPOINT)
def _retries(record: Record) -> list[float | None]:
    """Attempts after the first for one request (429, 5xx or connect errors, when retries are on)."""
    return [record["retries"]]


@metric("rate_limited_wait_s", "s", targets=ENDPOINT)
def _rate_limited_wait(record: Record) -> list[float | None]:
    """Time one request spent waiting after 429 answers before its final attempt (Retry-After, or
    backoff); never part of its latency."""
    return [record["rate_limited_wait_s"]]


@metric("scheduler_lateness_s", "s", targets=ENDPOINT)
def _lateness(record: Record) -> list[float | None]:
    """How late a request started against its schedule: started_s - scheduled_s. Open loop: the
    scheduled send time (waiting for a free slot under a concurrency cap counts); closed loop: 0 by
    construction (a request is scheduled when it starts)."""
    return [record["started_s"] - record["scheduled_s"]]


@metric("cost_usd", "USD", targets=ENDPOINT)
def _cost(record: Record) -> list[float | None]:
    """input_tokens x price.input_per_mtok / 1e6 + output_tokens x price.output_per_mtok / 1e6, from
    the target's price table and the server's usage; null without a price or usage."""
    return [record.get("cost_usd")]
