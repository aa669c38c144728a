"""The classes a failed request falls into, and how each is recognised.

| class | what happened |
| --- | --- |
| `connect` | no connection (refused, DNS, TLS, connect timeout) |
| `first_byte_timeout` | no response headers within `first_byte_timeout_s` of the request start |
| `idle_timeout` | no stream chunk for `idle_timeout_s` |
| `total_timeout` | the whole request passed `total_timeout_s` |
| `http_4xx` | a 4xx other than 429 (bad request, auth, unknown model) |
| `rate_limited` | 429 (its `Retry-After` is recorded) |
| `http_5xx` | a 5xx |
| `disconnect` | the connection closed mid-response, or the stream ended with no end marker |
| `parse` | a chunk or body that is not the JSON it should be |
| `stream_error` | the server sent an error object inside a 200 stream |
"""

from __future__ import annotations

import email.utils
import time
from typing import TYPE_CHECKING, Any

import aiohttp

if TYPE_CHECKING:
    from vlmperf.backends.endpoint.client import Attempt, Endpoint

CONNECT = "connect"
FIRST_BYTE_TIMEOUT = "first_byte_timeout"
IDLE_TIMEOUT = "idle_timeout"
TOTAL_TIMEOUT = "total_timeout"
HTTP_4XX = "http_4xx"
RATE_LIMITED = "rate_limited"
HTTP_5XX = "http_5xx"
DISCONNECT = "disconnect"
PARSE = "parse"
STREAM_ERROR = "stream_error"

CLASSES = (
    CONNECT,
    FIRST_BYTE_TIMEOUT,
    IDLE_TIMEOUT,
    TOTAL_TIMEOUT,
    HTTP_4XX,
    RATE_LIMITED,
    HTTP_5XX,
    DISCONNECT,
    PARSE,
    STREAM_ERROR,
)
RETRYABLE = frozenset({CONNECT, RATE_LIMITED, HTTP_5XX})


def http_error(status: int, body: bytes) -> dict[str, Any]:
    """The error of a response with status >= 400, with the start of its body as the message."""
    kind = RATE_LIMITED if status == 429 else HTTP_5XX if status >= 500 else HTTP_4XX
    return {"class": kind, "status": status, "message": body[:500].decode("utf-8", "replace")}


def retry_after_s(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delta seconds or an HTTP date); None if absent or unreadable."""
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def timeout_error(phase: str, attempt: Attempt, endpoint: Endpoint, *, total: bool) -> dict[str, Any]:
    """Which timeout fired: the whole request's, the wait for headers, or the wait between chunks."""
    if total:
        return {
            "class": TOTAL_TIMEOUT,
            "message": f"no complete answer within total_timeout_s {endpoint.total_timeout_s:g} s",
        }
    if phase == "connect":
        return {
            "class": FIRST_BYTE_TIMEOUT,
            "message": f"no response headers within first_byte_timeout_s {endpoint.first_byte_timeout_s:g} s",
        }
    return {"class": IDLE_TIMEOUT, "message": f"no stream chunk for idle_timeout_s {endpoint.idle_timeout_s:g} s"}


def transport_error(exc: BaseException, *, after_headers: bool) -> dict[str, Any]:
    """A connection-level failure: before the headers it is `connect`, after them `disconnect`."""
    message = f"{type(exc).__name__}: {exc}"
    if after_headers or isinstance(exc, (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError)):
        return {"class": DISCONNECT, "message": message}
    return {"class": CONNECT, "message": message}
