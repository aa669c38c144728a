"""Server-sent events of an OpenAI-style stream: `data:` lines in, JSON payloads out.

Only what chat-completion streams use is handled: `data:` fields (several in one event are joined
with newlines, as the SSE spec says), comments (`:` lines, keep-alives) and the other fields
(`event:`, `id:`, `retry:`) are skipped, an empty line ends an event, `[DONE]` ends the stream.
"""

from __future__ import annotations

from typing import Any

import orjson

DONE = object()
"""The payload of `data: [DONE]`."""


class UnparsableChunk(ValueError):
    """A `data:` payload that is not JSON: the stream broke the protocol."""


class EventAssembler:
    """Feed it lines (bytes, one at a time, with or without their line ending); it returns each
    finished event's payload: a parsed JSON value, `DONE`, or None while an event is still open."""

    def __init__(self) -> None:
        self._data: list[bytes] = []

    def feed(self, line: bytes) -> Any:
        line = line.rstrip(b"\r\n")
        if not line:
            return self._finish()
        if line.startswith(b"data:"):
            value = line[5:]
            self._data.append(value[1:] if value.startswith(b" ") else value)
        return None

    def close(self) -> Any:
        """The payload of an event the stream ended without a blank line after."""
        return self._finish()

    def _finish(self) -> Any:
        if not self._data:
            return None
        data = b"\n".join(self._data)
        self._data = []
        if data.strip() == b"[DONE]":
            return DONE
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise UnparsableChunk(f"a stream chunk is not JSON: {data[:200]!r}") from exc
