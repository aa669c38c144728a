"""The endpoint client against the scripted server: timings, outputs, error classes and retries.

The server records, on the same perf_counter_ns clock, the moment just before (`writing_ns`) and
just after (`sent_ns`) each event's write. A client arrival time must lie in that window, give or
take 2 ms; a client gap between two chunks must lie within 2 ms of the server's gap window
[writing(k+1) - sent(k), sent(k+1) - writing(k)]. Times are compared with what the server measured,
never with the scripted offsets, since the server shares the process (and the GIL) with the client.
"""

from __future__ import annotations

import asyncio
import socket
import sys
import time
from typing import Any

import aiohttp
import orjson
import pytest

import vlmperf.backends.endpoint.metrics  # noqa: F401 - registers the endpoint extractors
from vlmperf.backends.endpoint import arrival, client, errors
from vlmperf.backends.endpoint.client import Attempt, Endpoint
from vlmperf.backends.endpoint.record import request_record
from vlmperf.backends.endpoint.requests import PreparedRequest
from vlmperf.meters.clock import wall_clock_anchor
from vlmperf.metrics.definitions import METRICS

from fixtures import scripted_server as ss
from fixtures.scripted_server import DISCONNECT, DONE, STALL, Event, Reply, ScriptedServer, SentEvent, ServedRequest

TOLERANCE_NS = 2_000_000
"""How far a client timing may be from the server's measured send window."""

BODY = orjson.dumps({"model": ss.MODEL, "messages": [{"role": "user", "content": "Describe it."}], "stream": True})
NO_RETRIES = {"retries": 0, "rate_limited_wait_s": 0.0, "retry_wait_s": 0.0}

STREAM = [  # role first, content at uneven offsets (some chunks carry several tokens), then the closing events
    Event(0.000, ss.role_chunk()),
    Event(0.030, ss.content_chunk("A")),
    Event(0.042, ss.content_chunk(" red bicycle")),
    Event(0.060, ss.content_chunk(" leans")),
    Event(0.065, ss.content_chunk(" against a brick wall")),
    Event(0.090, ss.content_chunk(".")),
    Event(0.100, ss.finish_chunk()),
    Event(0.110, ss.usage_chunk(42, 9)),
    Event(0.120, DONE),
]
STREAM_TEXT = "A red bicycle leans against a brick wall."


# --- helpers -----------------------------------------------------------------------------------------


def _endpoint(base_url: str, **overrides: Any) -> Endpoint:
    settings: dict[str, Any] = {
        "url": f"{base_url}/chat/completions",
        "headers": {"Content-Type": "application/json"},
        "stream": True,
        "connect_timeout_s": 1.0,
        "first_byte_timeout_s": 1.0,
        "idle_timeout_s": 1.0,
        "total_timeout_s": 5.0,
    }
    return Endpoint(**{**settings, **overrides})


REQUEST_ID = "20261204-120000-3fa9/cell0/7"
ANCHOR = wall_clock_anchor()


async def _send(endpoint: Endpoint) -> tuple[Attempt, client.Retries]:
    async with aiohttp.ClientSession(connector=arrival.connector(), trace_configs=[client.trace_config()]) as session:
        return await client.send(session, endpoint, BODY, REQUEST_ID)


def _exchange(replies: list[Reply], **overrides: Any) -> tuple[Attempt, dict[str, Any], list[ServedRequest]]:
    """One client request (with its retries) against a server playing `replies`; the server's records."""
    with ScriptedServer(replies) as server:
        attempt, retries = asyncio.run(_send(_endpoint(server.base_url, **overrides)))
        served = server.wait_finished(len(server.requests))
    return attempt, retries, served


def _record(attempt: Attempt, retries: dict[str, Any], *, answers_captions: bool = False) -> dict[str, Any]:
    prepared = PreparedRequest("sample-0", BODY, image_bytes=0, image_pixels=0, images=0)
    return request_record(
        prepared,
        attempt,
        retries,
        epoch_ns=ANCHOR[0],
        epoch_unix_ns=ANCHOR[1],
        scheduled_ns=attempt.start_ns,
        answers_captions=answers_captions,
        served_by_fallback=None,
        in_flight=1,
        request_id=REQUEST_ID,
    )


def _carries_text(event: SentEvent) -> bool:
    if not isinstance(event.what, dict):
        return False
    deltas = [choice.get("delta") or {} for choice in event.what.get("choices") or ()]
    return any(d.get("content") or d.get("reasoning_content") or d.get("reasoning") for d in deltas)


def _text_events(served: ServedRequest) -> list[SentEvent]:
    return [event for event in served.events if _carries_text(event)]


def _arrival_off_ns(arrival_ns: float, event: SentEvent) -> float:
    """How far a client arrival lies outside the event's [writing_ns, sent_ns] window (0 inside)."""
    return max(event.writing_ns - arrival_ns, arrival_ns - event.sent_ns, 0)


def _gap_off_ns(gap_ns: float, before: SentEvent, after: SentEvent) -> float:
    """How far a client gap lies outside the server's possible gap between two events (0 inside)."""
    return max(after.writing_ns - before.sent_ns - gap_ns, gap_ns - (after.sent_ns - before.writing_ns), 0)


def _timing_offs_ns(record: dict[str, Any], start_ns: int, served: ServedRequest) -> dict[str, list[float]]:
    events = _text_events(served)
    gaps = [g * 1e9 for g in record["itl_s"]]
    return {
        "ttft": [_arrival_off_ns(start_ns + record["ttft_s"] * 1e9, events[0])],
        "e2e": [_arrival_off_ns(start_ns + record["e2e_s"] * 1e9, events[-1])],
        "itl": [_gap_off_ns(gap, a, b) for gap, a, b in zip(gaps, events[:-1], events[1:], strict=True)],
    }


# --- streaming timings -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def streamed() -> tuple[Attempt, dict[str, Any], ServedRequest]:
    """The STREAM exchange, tried up to 3 times: one slow run on a loaded 2-core machine says nothing."""
    for _ in range(3):
        attempt, retries, (served,) = _exchange(
            [Reply(events=STREAM, headers={"x-inference-provider": "novita"})],
            served_by_headers=("x-inference-provider",),
        )
        record = _record(attempt, retries)
        if all(
            off <= TOLERANCE_NS for offs in _timing_offs_ns(record, attempt.start_ns, served).values() for off in offs
        ):
            break
    return attempt, record, served


def test_stream_succeeds_with_the_streamed_text(streamed):
    _, record, served = streamed
    assert record["error"] is None and record["status"] == 200 and served.ended == "complete"
    assert record["outputs"] == [STREAM_TEXT] and record["finish_reasons"] == ["stop"]
    assert record["chunk_chars"] == [1, 12, 6, 21, 1]


def test_ttft_is_the_first_content_chunk_not_the_role_chunk(streamed):
    attempt, record, served = streamed
    first_content = _text_events(served)[0]
    assert served.events[0].what == ss.role_chunk() and first_content.at_s == 0.030
    assert record["ttft_s"] > (served.events[0].sent_ns - attempt.start_ns) / 1e9 + 0.02
    assert _timing_offs_ns(record, attempt.start_ns, served)["ttft"] == [pytest.approx(0, abs=TOLERANCE_NS)]


def test_every_itl_gap_is_the_server_gap(streamed):
    attempt, record, served = streamed
    assert len(record["itl_s"]) == 4
    assert max(_timing_offs_ns(record, attempt.start_ns, served)["itl"]) <= TOLERANCE_NS


def test_e2e_is_the_last_content_chunk_not_the_closing_events(streamed):
    attempt, record, served = streamed
    assert _timing_offs_ns(record, attempt.start_ns, served)["e2e"] == [pytest.approx(0, abs=TOLERANCE_NS)]
    assert record["end_s"] > record["e2e_s"] + 0.02  # finish, usage and [DONE] came 10-30 ms later


def test_output_tokens_come_from_usage_and_give_tpot(streamed):
    _, record, _ = streamed
    assert record["output_tokens"] == [9] and record["output_tokens_source"] == "usage"
    assert record["input_tokens"] == [42]
    (tpot,) = METRICS["tpot_s"].values([record])
    assert tpot == pytest.approx((record["e2e_s"] - record["ttft_s"]) / 8)
    assert tpot == pytest.approx(0.060 / 8, abs=2 * TOLERANCE_NS / 1e9 / 8)


def test_request_is_sent_before_the_first_token(streamed):
    _, record, _ = streamed
    assert record["request_sent_s"] is not None
    assert 0 < record["request_sent_s"] <= record["headers_s"] <= record["ttft_s"]


def test_response_bytes_are_the_bytes_the_server_sent(streamed):
    _, record, served = streamed
    assert record["response_bytes"] == sum(len(event.data) for event in served.events) > 0


def test_a_request_carries_its_id_and_its_record_says_how_the_server_knows_it():
    before = time.time_ns()
    attempt, retries, (served,) = _exchange([ss.stream_reply(["A", " bike."], 0.005, usage=(20, 2))])
    after = time.time_ns()
    record = _record(attempt, retries)
    assert served.headers["X-Request-Id"] == REQUEST_ID == record["request_id"]
    assert record["response_id"] == ss.CHUNK_ID
    assert before <= record["started_unix_ns"] <= after


def test_the_installed_aiohttp_stamps_arrivals_on_the_connection():
    """Chunk stamps come from the connection as the bytes arrive (arrival.StampingProtocol), not
    from the moment the reader got to read them, and never from the next request on the connection."""

    async def read() -> tuple[int | None, int, int | None, int | None]:
        async with aiohttp.ClientSession(connector=arrival.connector()) as session:
            async with session.post(f"{server.base_url}/chat/completions", data=BODY) as response:
                assert isinstance(response.connection.protocol, arrival.StampingProtocol)
                stamps = arrival.arrival_of(response)
                assert await response.content.readany()
                first = arrival.take(stamps)
                await asyncio.sleep(0.1)  # the rest arrives (and the connection is released) meanwhile
                assert await response.content.readany()
                returned, rest = time.perf_counter_ns(), arrival.take(stamps)
            async with session.post(f"{server.base_url}/chat/completions", data=BODY) as again:
                await again.read()
            return first, returned, rest, arrival.take(stamps)

    with ScriptedServer([ss.stream_reply(["a", "b"], 0.01, usage=None)]) as server:
        first, returned, rest, after_next = asyncio.run(read())
    assert first is not None and first <= returned
    assert rest is not None and rest < returned - 0.05e9, "the stamp is the bytes' arrival, not the late read"
    assert after_next is None, "the next request on the connection has stamps of its own"


def test_served_by_comes_from_the_router_header(streamed):
    _, record, _ = streamed
    assert (record["served_by"], record["served_by_source"]) == ("novita", "header")


@pytest.mark.parametrize("field_name", ["reasoning_content", "reasoning"])
def test_a_reasoning_chunk_before_content_is_the_first_token(field_name):
    events = [
        Event(0, ss.role_chunk()),
        Event(0.02, ss.reasoning_chunk("Hmm, a bike.", field_name=field_name)),
        Event(0.04, ss.content_chunk("A bike.")),
        Event(0.04, ss.finish_chunk()),
        Event(0.04, DONE),
    ]
    attempt, retries, (served,) = _exchange([Reply(events=events)])
    record = _record(attempt, retries)
    assert record["error"] is None and record["outputs"] == ["A bike."] and record["reasoning_chars"] == 12
    reasoning = served.events[1]
    assert _arrival_off_ns(attempt.start_ns + record["ttft_s"] * 1e9, reasoning) <= TOLERANCE_NS
    assert len(record["itl_s"]) == 1


def test_without_usage_output_tokens_are_the_content_chunks():
    attempt, retries, _ = _exchange([ss.stream_reply(["a", " b c", " d"], 0.005, usage=None)])
    record = _record(attempt, retries)
    assert record["error"] is None
    assert record["output_tokens"] == [3] and record["output_tokens_source"] == "chunks"
    assert record["input_tokens"] == [None]


def test_non_streaming_json_ttft_and_e2e_are_the_body_arrival():
    """Tried up to 3 times, as the streamed exchange: one slow run on a loaded 2-core machine says nothing."""
    for _ in range(3):
        reply = ss.json_reply("A red bicycle.", usage=(30, 4), body_at_s=0.05)
        attempt, retries, (served,) = _exchange([reply], stream=False)
        record = _record(attempt, retries)
        if _arrival_off_ns(attempt.start_ns + record["ttft_s"] * 1e9, served.events[0]) <= TOLERANCE_NS:
            break
    assert record["error"] is None and attempt.texts == {0: ["A red bicycle."]}
    assert attempt.usage == {"prompt_tokens": 30, "completion_tokens": 4, "total_tokens": 34}
    assert record["output_tokens"] == [4] and record["output_tokens_source"] == "usage"
    assert record["ttft_s"] == record["e2e_s"] and record["itl_s"] == []
    assert record["response_id"] == ss.CHUNK_ID and served.headers["X-Request-Id"] == REQUEST_ID
    assert METRICS["tpot_s"].values([record]) == [None]  # 4 tokens in one body: no time per token
    (body,) = served.events
    assert _arrival_off_ns(attempt.start_ns + record["ttft_s"] * 1e9, body) <= TOLERANCE_NS
    assert record["response_bytes"] == len(body.data)


def test_n_choices_stream_one_text_per_choice():
    texts = [["A red", " bike."], ["A bicycle", " by a wall."], ["Red", " bike."]]
    events = [Event(0, ss.role_chunk(i)) for i in range(3)]
    events += [Event(0.01 * (k + 1), ss.content_chunk(t[k], i)) for k in range(2) for i, t in enumerate(texts)]
    events += [Event(0.03, ss.finish_chunk(index=i)) for i in range(3)] + [
        Event(0.03, ss.usage_chunk(20, 12)),
        Event(0.03, DONE),
    ]
    attempt, retries, _ = _exchange([Reply(events=events)])
    record = _record(attempt, retries, answers_captions=True)
    assert record["error"] is None
    assert record["choices"] == ["".join(t) for t in texts] and record["outputs"] == ["A red bike."]
    assert record["captions"] == [3] and record["finish_reasons"] == ["stop"] * 3
    assert len(attempt.token_ns) == 6


def test_tpot_is_null_when_every_choice_arrives_in_one_chunk():
    one_chunk = ss._chunk(
        [
            {"index": i, "delta": {"content": text}, "finish_reason": "stop"}
            for i, text in enumerate(["A red bike.", "A bicycle.", "Red bike."])
        ]
    )
    events = [Event(0, ss.role_chunk()), Event(0.02, one_chunk), Event(0.02, ss.usage_chunk(20, 9)), Event(0.02, DONE)]
    attempt, retries, _ = _exchange([Reply(events=events)])
    record = _record(attempt, retries)
    assert record["error"] is None and record["output_tokens"] == [9] and record["ttft_s"] == record["e2e_s"]
    assert METRICS["tpot_s"].values([record]) == [None]


def test_tpot_is_null_for_one_output_token():
    attempt, retries, _ = _exchange([ss.stream_reply(["Yes"], 0.01, usage=(20, 1))])
    record = _record(attempt, retries)
    assert record["error"] is None and METRICS["tpot_s"].values([record]) == [None]


# --- error classes -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "kind"), [(404, errors.HTTP_4XX), (401, errors.HTTP_4XX), (500, errors.HTTP_5XX), (503, errors.HTTP_5XX)]
)
def test_http_errors_are_classified_with_their_status(status, kind):
    attempt, retries, _ = _exchange([ss.error_reply(status, "model gone", error_type="invalid_request_error")])
    record = _record(attempt, retries)
    assert record["error"]["class"] == kind and record["error"]["status"] == status == record["status"]
    assert "model gone" in record["error"]["message"]
    assert record["ttft_s"] is None and record["outputs"] == [None] and record["output_tokens"] == [None]
    assert retries == NO_RETRIES


def test_429_without_retries_fails_at_once_as_rate_limited():
    reply = ss.error_reply(429, "slow down", headers={"Retry-After": "5"})
    started = time.perf_counter()
    attempt, retries, served = _exchange([reply])
    assert time.perf_counter() - started < 2
    assert attempt.error["class"] == errors.RATE_LIMITED and attempt.error["status"] == 429
    assert attempt.retry_after_s == 5 and retries == NO_RETRIES and len(served) == 1
    assert attempt.error["retry_after_s"] == 5, "the stored error says how long the server asked to wait"


def test_429_then_success_waits_retry_after_outside_the_latency():
    replies = [ss.error_reply(429, "slow down", headers={"Retry-After": "0.2"}), Reply(events=STREAM)]
    attempt, retries, (limited, answered) = _exchange(replies, retries=1)
    record = _record(attempt, retries)
    assert record["error"] is None and record["outputs"] == [STREAM_TEXT]
    assert retries == {"retries": 1, "rate_limited_wait_s": pytest.approx(0.2), "retry_wait_s": 0.0}
    assert answered.received_ns - limited.events[-1].writing_ns >= 0.2e9  # the wait happened
    assert attempt.start_ns > limited.events[-1].writing_ns  # and the timings are the final attempt's
    assert _timing_offs_ns(record, attempt.start_ns, answered)["ttft"][0] <= TOLERANCE_NS
    assert record["ttft_s"] < 0.2
    assert limited.headers["X-Request-Id"] == answered.headers["X-Request-Id"] == REQUEST_ID  # one request, one id


def test_retry_after_past_max_retry_wait_fails_at_once():
    reply = ss.error_reply(429, "slow down", headers={"Retry-After": "30"})
    started = time.perf_counter()
    attempt, retries, served = _exchange([reply, ss.json_reply("never")], retries=3, max_retry_wait_s=1.0)
    assert time.perf_counter() - started < 2 and len(served) == 1
    assert attempt.error["class"] == errors.RATE_LIMITED and attempt.error["status"] == 429
    assert "Retry-After 30 s is past max_retry_wait_s 1 s" in attempt.error["message"]
    assert retries == NO_RETRIES


def test_5xx_then_success_backs_off_as_retry_wait(monkeypatch):
    monkeypatch.setattr(client, "BACKOFF_S", 0.05)
    attempt, retries, served = _exchange(
        [ss.error_reply(502, "bad gateway"), ss.json_reply("ok")], stream=False, retries=1
    )
    assert attempt.error is None and attempt.texts == {0: ["ok"]} and len(served) == 2
    assert retries == {"retries": 1, "rate_limited_wait_s": 0.0, "retry_wait_s": pytest.approx(0.05)}


def test_disconnect_mid_stream_is_a_disconnect():
    events = [Event(0, ss.role_chunk()), Event(0.01, ss.content_chunk("A red")), Event(0.02, DISCONNECT)]
    attempt, retries, (served,) = _exchange([Reply(events=events)])
    record = _record(attempt, retries)
    assert served.ended == "disconnect"
    assert record["error"]["class"] == errors.DISCONNECT and record["status"] == 200
    assert record["ttft_s"] is None and record["outputs"] == [None]


def test_a_stall_after_some_chunks_is_an_idle_timeout_given_up_in_time():
    events = [Event(0, ss.role_chunk()), Event(0.01, ss.content_chunk("A red")), Event(0.02, STALL)]
    attempt, _, (served,) = _exchange([Reply(events=events)], idle_timeout_s=0.3)
    assert attempt.error["class"] == errors.IDLE_TIMEOUT and served.ended == "client_closed"
    waited = attempt.end_ns - served.events[1].writing_ns
    assert 0.3e9 <= waited < 0.36e9


def test_chunks_closer_than_the_idle_timeout_never_trip_it_however_long_the_stream():
    """The idle timeout is a wait between chunks, not a limit on the stream: 15 idle periods, no timeout."""
    attempt, _, _ = _exchange([ss.stream_reply(["tick"] * 30, 0.025)], idle_timeout_s=0.05, total_timeout_s=5.0)
    assert attempt.error is None and len(attempt.token_ns) == 30


def test_a_cancelled_read_stays_cancelled_and_is_not_an_idle_timeout():
    async def cancel_mid_stream() -> None:
        async with aiohttp.ClientSession(connector=arrival.connector()) as session:
            task = asyncio.create_task(client.send(session, _endpoint(server.base_url, idle_timeout_s=0.2), BODY))
            await asyncio.sleep(0.05)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    with ScriptedServer([ss.stream_reply(["tick"] * 20, 0.02)]) as server:
        asyncio.run(cancel_mid_stream())


def test_headers_later_than_first_byte_timeout_are_a_first_byte_timeout():
    reply = ss.stream_reply(["late"], 0.01, delay_before_headers_s=0.5)
    attempt, _, _ = _exchange([reply], first_byte_timeout_s=0.2)
    assert attempt.error["class"] == errors.FIRST_BYTE_TIMEOUT and attempt.status is None
    assert 0.2e9 <= attempt.end_ns - attempt.start_ns < 0.25e9


def test_a_stream_longer_than_total_timeout_is_a_total_timeout():
    reply = ss.stream_reply(["tick"] * 10, 0.05)
    attempt, _, _ = _exchange([reply], total_timeout_s=0.15, idle_timeout_s=1.0)
    assert attempt.error["class"] == errors.TOTAL_TIMEOUT and attempt.status == 200
    assert 0.15e9 <= attempt.end_ns - attempt.start_ns < 0.2e9


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_closed_port_is_a_connect_error():
    endpoint = _endpoint(f"http://127.0.0.1:{_closed_port()}/v1")
    attempt, retries = asyncio.run(_send(endpoint))
    assert attempt.error["class"] == errors.CONNECT and attempt.status is None and retries == NO_RETRIES


@pytest.mark.skipif(sys.platform != "linux", reason="relies on Linux dropping SYNs to a full accept queue")
def test_a_connect_timeout_is_a_connect_error_not_a_first_byte_timeout():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        fillers = [socket.socket() for _ in range(4)]  # never accepted: the queue fills, later SYNs are dropped
        try:
            for filler in fillers:
                filler.setblocking(False)
                filler.connect_ex(("127.0.0.1", port))
            endpoint = _endpoint(f"http://127.0.0.1:{port}/v1", connect_timeout_s=0.1, first_byte_timeout_s=2.0)
            attempt, _ = asyncio.run(_send(endpoint))
        finally:
            for filler in fillers:
                filler.close()
    assert attempt.error["class"] == errors.CONNECT, attempt.error
    assert attempt.end_ns - attempt.start_ns < 1e9


def test_malformed_chunk_is_a_parse_error():
    attempt, _, _ = _exchange([Reply(events=[Event(0, ss.role_chunk()), Event(0.005, b"data: {not json\n\n")])])
    assert attempt.error["class"] == errors.PARSE and "{not json" in attempt.error["message"]


@pytest.mark.parametrize("done", [True, False], ids=["then_done", "then_end"])
def test_error_object_in_a_200_stream_is_a_stream_error(done):
    error = {"error": {"message": "CUDA out of memory", "type": "server_error", "code": 500}}
    events = [Event(0, ss.role_chunk()), Event(0.005, ss.content_chunk("A")), Event(0.01, error)]
    attempt, retries, _ = _exchange([Reply(events=events + ([Event(0.01, DONE)] if done else []))])
    record = _record(attempt, retries)
    assert record["error"]["class"] == errors.STREAM_ERROR and "CUDA out of memory" in record["error"]["message"]
    assert record["ttft_s"] is None and record["status"] == 200


def test_a_stream_ending_without_done_or_finish_reason_is_a_disconnect():
    events = [
        Event(0, ss.role_chunk()),
        Event(0.005, ss.content_chunk("A red")),
        Event(0.01, ss.content_chunk(" bike")),
    ]
    attempt, _, (served,) = _exchange([Reply(events=events)])
    assert served.ended == "complete"
    assert attempt.error["class"] == errors.DISCONNECT and "without [DONE]" in attempt.error["message"]


def test_a_stream_ending_with_a_finish_reason_but_no_done_succeeds():
    attempt, retries, _ = _exchange([ss.stream_reply(["A red", " bike"], 0.005, done=False)])
    record = _record(attempt, retries)
    assert record["error"] is None and record["outputs"] == ["A red bike"]
