"""One chat-completion request over aiohttp, with every timestamp the endpoint metrics need.

Timestamps are `time.perf_counter_ns()` readings taken in the event loop as things happen:
the request start (just before aiohttp is asked to send the pre-serialised body), the last body
byte handed to the transport (aiohttp's request-chunk trace; `request_sent_s`), the response
headers, and the arrival of every chunk (noted by the connection when its bytes came in, on a
session whose connector is `arrival.connector()`). A chunk counts as a token-bearing chunk when any choice
carries non-empty `content` or reasoning (`reasoning_content` or `reasoning`): a role-only opening
chunk, a finish chunk and a usage chunk are not. Failures are classified (`errors`), never raised:
the load generator records them and goes on.

So that a stored run can be matched with a server's logs, every request carries an
`X-Request-Id` header (one id per request, kept by its retries), and an attempt keeps the
response's own `id` (the first chunk's, or the JSON body's).

Retries (off unless `target.retries` > 0) repeat a request after a connect error, a 429 or a 5xx;
a 429's `Retry-After` is honoured up to `max_retry_wait_s` (a longer one fails the request) and
other retries back off exponentially. Each attempt's waiting is recorded in
`rate_limited_wait_s` (429s) or `retry_wait_s`, and the timings are those of the final attempt,
so waiting never counts as latency.

Whatever the server said (error messages, the recorded headers, the response id, the texts, usage,
finish reasons) passes through the endpoint's `Redactor` before `send` returns the attempt, so no
key a server echoes reaches a record (`redact`).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any, TypedDict

import aiohttp
import orjson

from vlmperf.backends.endpoint import arrival, errors
from vlmperf.backends.endpoint.redact import Redactor
from vlmperf.backends.endpoint.sse import DONE, EventAssembler, UnparsableChunk

BACKOFF_S = 0.5
"""First wait before a retry without Retry-After; doubled at each attempt."""


@dataclass(frozen=True)
class Endpoint:
    """Where and how to send: resolved from a target (URL, headers with the key, limits)."""

    url: str
    headers: dict[str, str] = field(repr=False)
    """Holds the key (`Authorization`): kept out of the repr."""
    stream: bool
    connect_timeout_s: float
    first_byte_timeout_s: float
    idle_timeout_s: float
    total_timeout_s: float
    retries: int = 0
    max_retry_wait_s: float = 60.0
    served_by_headers: tuple[str, ...] = ()
    redactor: Redactor = field(default_factory=Redactor, repr=False, compare=False)
    """Cuts the key (and anything shaped like a credential) out of what the server says."""


@dataclass
class Attempt:
    """What one attempt saw (nanosecond perf_counter readings; None where it never happened)."""

    start_ns: int = 0
    sent_ns: int | None = None
    headers_ns: int | None = None
    token_ns: list[int] = field(default_factory=list)
    token_chars: list[int] = field(default_factory=list)
    end_ns: int = 0
    status: int | None = None
    texts: dict[int, list[str]] = field(default_factory=dict)
    reasoning_chars: int = 0
    usage: dict[str, Any] | None = None
    finish_reasons: dict[int, str] = field(default_factory=dict)
    response_bytes: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    response_id: str | None = None
    error: dict[str, Any] | None = None
    retry_after_s: float | None = None


def trace_config() -> aiohttp.TraceConfig:
    """A trace that stamps the moment the last request body chunk was handed to the transport."""
    config = aiohttp.TraceConfig()

    async def chunk_sent(session: Any, context: Any, params: Any) -> None:
        attempt = context.trace_request_ctx
        if isinstance(attempt, Attempt):
            attempt.sent_ns = time.perf_counter_ns()

    config.on_request_chunk_sent.append(chunk_sent)
    return config


class Retries(TypedDict):
    """A request's retry accounting, as its record stores it: how many times it was sent again, and the
    seconds waited before those sends (after a 429, and after any other retryable error)."""

    retries: int
    rate_limited_wait_s: float
    retry_wait_s: float


REQUEST_ID_HEADER = "X-Request-Id"
RESPONSE_ID_MAX_CHARS = 200


async def send(
    session: aiohttp.ClientSession, endpoint: Endpoint, body: bytes, request_id: str | None = None
) -> tuple[Attempt, Retries]:
    """Send one request (with retries if configured): the final attempt and the retry accounting.

    `request_id` goes out as the `X-Request-Id` header of every attempt."""
    retries = Retries(retries=0, rate_limited_wait_s=0.0, retry_wait_s=0.0)
    headers = endpoint.headers if request_id is None else {**endpoint.headers, REQUEST_ID_HEADER: request_id}
    while True:
        attempt = await _attempt(session, endpoint, body, headers)
        kind = (attempt.error or {}).get("class")
        if kind not in errors.RETRYABLE or retries["retries"] >= endpoint.retries:
            return redact(attempt, endpoint.redactor), retries
        if kind == errors.RATE_LIMITED and attempt.retry_after_s is not None:
            if attempt.retry_after_s > endpoint.max_retry_wait_s:
                attempt.error = {
                    **(attempt.error or {}),
                    "message": f"Retry-After {attempt.retry_after_s:g} s is past max_retry_wait_s "
                    f"{endpoint.max_retry_wait_s:g} s",
                }
                return redact(attempt, endpoint.redactor), retries
            wait, rate_limited = attempt.retry_after_s, True
        else:
            wait = min(BACKOFF_S * 2 ** retries["retries"], endpoint.max_retry_wait_s)
            rate_limited = kind == errors.RATE_LIMITED
        await asyncio.sleep(wait)
        retries["retries"] += 1
        if rate_limited:
            retries["rate_limited_wait_s"] += wait
        else:
            retries["retry_wait_s"] += wait


def redact(attempt: Attempt, redactor: Redactor) -> Attempt:
    """The attempt with every text from the server redacted (in place; returned for convenience).

    A text is redacted whole (its chunks joined), so a key split over two chunks is still found;
    chunk lists that need no change are left as they came."""
    attempt.error = redactor.value(attempt.error)
    attempt.headers = redactor.value(attempt.headers)
    attempt.response_id = redactor.value(attempt.response_id)
    attempt.usage = redactor.value(attempt.usage)
    attempt.finish_reasons = redactor.value(attempt.finish_reasons)
    for index, parts in attempt.texts.items():
        whole = "".join(parts)
        clean = redactor.text(whole)
        if clean != whole:
            attempt.texts[index] = [clean]
    return attempt


async def _attempt(session: aiohttp.ClientSession, endpoint: Endpoint, body: bytes, headers: dict[str, str]) -> Attempt:
    attempt = Attempt()
    phase = "connect"
    attempt.start_ns = time.perf_counter_ns()
    deadline = asyncio.get_running_loop().time() + endpoint.total_timeout_s
    try:
        async with asyncio.timeout_at(deadline):
            async with asyncio.timeout(endpoint.first_byte_timeout_s):
                response = await session.post(
                    endpoint.url,
                    data=body,
                    headers=headers,
                    trace_request_ctx=attempt,
                    timeout=aiohttp.ClientTimeout(total=None, sock_connect=endpoint.connect_timeout_s),
                )
            phase = "stream"
            async with response:
                attempt.headers_ns = time.perf_counter_ns()
                attempt.status = response.status
                attempt.headers = {
                    name: response.headers[name] for name in endpoint.served_by_headers if name in response.headers
                }
                if response.status >= 400:
                    await _read_error(response, attempt)
                elif endpoint.stream:
                    await _read_stream(response, attempt, endpoint.idle_timeout_s)
                else:
                    await _read_json(response, attempt)
    except aiohttp.ServerTimeoutError as exc:  # aiohttp's sock_connect timeout; it is also a TimeoutError
        attempt.error = errors.transport_error(exc, after_headers=attempt.headers_ns is not None)
    except TimeoutError:
        attempt.error = errors.timeout_error(
            phase, attempt, endpoint, total=asyncio.get_running_loop().time() >= deadline
        )
    except UnparsableChunk as exc:
        attempt.error = {"class": errors.PARSE, "message": str(exc)}
    except (aiohttp.ClientError, OSError) as exc:
        attempt.error = errors.transport_error(exc, after_headers=attempt.headers_ns is not None)
    attempt.end_ns = time.perf_counter_ns()
    return attempt


async def _read_error(response: aiohttp.ClientResponse, attempt: Attempt) -> None:
    data = await response.read()
    attempt.response_bytes = len(data)
    attempt.error = errors.http_error(response.status, data)
    if response.status == 429:
        attempt.retry_after_s = errors.retry_after_s(response.headers.get("Retry-After"))
        attempt.error["retry_after_s"] = attempt.retry_after_s


async def _read_stream(response: aiohttp.ClientResponse, attempt: Attempt, idle_timeout_s: float) -> None:
    """Read the stream as the network delivers it: one idle timeout per read (not per line, which
    cost a timer per SSE line), every event of a read stamped with the arrival of that read's first
    byte (`arrival`: noted by the connection as the bytes came in; else the time the read returned)."""
    events = EventAssembler()
    content = response.content
    partial = b""
    stamps = arrival.arrival_of(response)
    while True:
        async with asyncio.timeout(idle_timeout_s):
            data = await content.readany()
        now = arrival.take(stamps) or time.perf_counter_ns()
        if not data:
            payload = events.feed(partial) if partial else None
            if payload is None:
                payload = events.close()
            if payload is not None and payload is not DONE:
                _take_chunk(payload, attempt, now)
            if attempt.error is None and payload is not DONE and not attempt.finish_reasons and attempt.usage is None:
                attempt.error = {
                    "class": errors.DISCONNECT,
                    "message": "the stream ended without [DONE] or a finish reason",
                }
            return
        attempt.response_bytes += len(data)
        *lines, partial = (partial + data).split(b"\n")
        for line in lines:
            payload = events.feed(line)
            if payload is DONE:
                return
            if payload is not None:
                _take_chunk(payload, attempt, now)
                if attempt.error is not None:  # an error object in the stream: the answer is over
                    return


def _response_id(payload: dict[str, Any]) -> str | None:
    """The response's `id` (chatcmpl-...), cut to a bounded length; None when absent or not a string."""
    value = payload.get("id")
    return value[:RESPONSE_ID_MAX_CHARS] if isinstance(value, str) else None


def _take_chunk(payload: Any, attempt: Attempt, now_ns: int) -> None:
    if not isinstance(payload, dict):
        raise UnparsableChunk(f"a stream chunk is not a JSON object: {str(payload)[:200]}")
    if "error" in payload and not payload.get("choices"):
        attempt.error = {"class": errors.STREAM_ERROR, "message": str(payload["error"])[:500]}
        return
    if attempt.response_id is None:
        attempt.response_id = _response_id(payload)
    if payload.get("usage"):
        attempt.usage = payload["usage"]
    chars = 0
    for choice in payload.get("choices") or ():
        delta = choice.get("delta") or {}
        text = delta.get("content") or ""
        reasoning = delta.get("reasoning_content") or delta.get("reasoning") or ""
        if text:
            attempt.texts.setdefault(choice.get("index", 0), []).append(text)
        attempt.reasoning_chars += len(reasoning)
        chars += len(text) + len(reasoning)
        if choice.get("finish_reason"):
            attempt.finish_reasons[choice.get("index", 0)] = choice["finish_reason"]
    if chars:
        attempt.token_ns.append(now_ns)
        attempt.token_chars.append(chars)


async def _read_json(response: aiohttp.ClientResponse, attempt: Attempt) -> None:
    data = await response.read()
    now = time.perf_counter_ns()
    attempt.response_bytes = len(data)
    try:
        payload = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise UnparsableChunk(f"the response body is not JSON: {data[:200]!r}") from exc
    if not isinstance(payload, dict):
        raise UnparsableChunk(f"the response body is not a JSON object: {data[:200]!r}")
    attempt.response_id = _response_id(payload)
    attempt.usage = payload.get("usage")
    for choice in payload.get("choices") or ():
        message = choice.get("message") or {}
        attempt.texts[choice.get("index", 0)] = [message.get("content") or ""]
        attempt.reasoning_chars += len(message.get("reasoning_content") or message.get("reasoning") or "")
        if choice.get("finish_reason"):
            attempt.finish_reasons[choice.get("index", 0)] = choice["finish_reason"]
    attempt.token_ns.append(now)
    attempt.token_chars.append(sum(len(t[0]) for t in attempt.texts.values()))
