"""The SSE assembler: server-sent events as OpenAI-compatible servers write them, line by line."""

from __future__ import annotations

from typing import Any

import pytest

from vlmperf.backends.endpoint.sse import DONE, EventAssembler, UnparsableChunk


def _feed(lines: list[bytes]) -> list[Any]:
    events = EventAssembler()
    payloads = [events.feed(line) for line in lines]
    return [p for p in payloads + [events.close()] if p is not None]


def test_sse_crlf_line_endings():
    assert _feed([b'data: {"a": 1}\r\n', b"\r\n", b"data: [DONE]\r\n", b"\r\n"]) == [{"a": 1}, DONE]


def test_sse_comments_and_keep_alives_are_skipped():
    assert _feed([b": keep-alive\n", b"\n", b":\n", b'data: {"a": 1}\n', b": ping\n", b"\n"]) == [{"a": 1}]


def test_sse_multi_line_data_is_joined_with_newlines():
    assert _feed([b'data: {"a":\n', b"data: [1,\n", b"data:2]}\n", b"\n"]) == [{"a": [1, 2]}]


def test_sse_event_id_and_retry_fields_are_ignored():
    lines = [b"event: message\n", b"id: 7\n", b"retry: 1000\n", b'data: {"b": 2}\n', b"\n"]
    assert _feed(lines) == [{"b": 2}]


def test_sse_final_event_without_a_blank_line_comes_from_close():
    events = EventAssembler()
    assert events.feed(b'data: {"c": 3}') is None
    assert events.close() == {"c": 3} and events.close() is None


def test_sse_done_without_a_space_and_unparsable_data():
    assert _feed([b"data:[DONE]\n", b"\n"]) == [DONE]
    with pytest.raises(UnparsableChunk, match="not JSON"):
        _feed([b"data: {oops\n", b"\n"])
