"""A loopback chat-completions server that answers at once, for measuring the client itself.

Every POST to `/v1/chat/completions` gets a fixed three-chunk stream (or a JSON body when the
request does not stream) with no waiting, so whatever time a request takes is the client's, the
loopback's and this server's fixed cost. It runs in its own process (`python -m
vlmperf.backends.endpoint.load.instant_server`), so it does not share the client's event loop or GIL; it prints
`PORT <n>` once it listens on 127.0.0.1.

Paced mode (for measuring how late the client timestamps stream chunks): a streaming request is
paced when the server was started with `--paced CHUNKS INTERVAL_MS`, or when its body carries
`"paced": {"chunks": N, "interval_ms": X}` (which wins over the flag; `"paced": null` asks for
the instant answer). A paced stream sends a role chunk, then N content chunks X ms apart on an
absolute schedule from the request's arrival (the first at once), then a finish chunk, a usage
chunk and `[DONE]`. Each content chunk's text is the server's `time.perf_counter_ns()` taken just
before the chunk is written, as a decimal string followed by one space, so the client's text
splits into the send times (on Linux perf_counter is CLOCK_MONOTONIC, comparable across
processes). With `"aligned": true` in the body's `paced`, the schedule is a grid shared by every
stream (multiples of X ms of the server's clock, the first at the next grid point), so all streams
write their chunks in the same instant, as a server decoding them in one batch would.
With `"spread": k`, stream lengths vary over `chunks - k` to `chunks + k`, taken in turn from one
seeded shuffle of that range (`"seed"`, default 0), as a real server's answers vary, so streams end
and restart spread over time; a run sets these through its target's `extra_body`.

`GET /stats` returns `{"requests": n, "first_request_ns": t, "last_request_ns": t}` (chat
requests received, perf_counter_ns at the first and latest arrival, null before any);
`POST /stats/reset` zeroes them.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import math
import random
import sys
import time
from collections.abc import Iterator

import orjson
from aiohttp import web

_CHUNKS = [
    {"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]},
    {"choices": [{"index": 0, "delta": {"content": "A calibration"}}]},
    {"choices": [{"index": 0, "delta": {"content": " answer."}, "finish_reason": "stop"}]},
    {"choices": [], "usage": {"prompt_tokens": 8, "completion_tokens": 3, "total_tokens": 11}},
]
STREAM = b"".join(b"data: " + orjson.dumps(chunk) + b"\n\n" for chunk in _CHUNKS) + b"data: [DONE]\n\n"
BODY = orjson.dumps(
    {
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "A calibration answer."}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 8, "completion_tokens": 3, "total_tokens": 11},
    }
)
_ROLE = b"data: " + orjson.dumps(_CHUNKS[0]) + b"\n\n"
_STAMP_HEAD = b'data: {"choices":[{"index":0,"delta":{"content":"'
_STAMP_TAIL = b' "}}]}\n\n'
_FINISH = b"data: " + orjson.dumps({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}) + b"\n\n"

STATS_KEY = web.AppKey("stats", dict)
PACED_KEY: web.AppKey[dict[str, float] | None] = web.AppKey("paced")
LENGTHS_KEY = web.AppKey("lengths", dict)


def _stream_length(app: web.Application, paced: dict) -> int:
    """`chunks`, or with a `spread` the next length of that spread's seeded cycle."""
    chunks, spread = int(paced["chunks"]), int(paced.get("spread", 0))
    if not spread:
        return chunks
    key = (chunks, spread, int(paced.get("seed", 0)))
    cycles: dict[tuple[int, int, int], Iterator[int]] = app[LENGTHS_KEY]
    if key not in cycles:
        lengths = list(range(max(1, chunks - spread), chunks + spread + 1))
        random.Random(key[2]).shuffle(lengths)
        cycles[key] = itertools.cycle(lengths)
    return next(cycles[key])


def _new_stats() -> dict[str, int | None]:
    return {"requests": 0, "first_request_ns": None, "last_request_ns": None}


async def _answer(request: web.Request) -> web.StreamResponse:
    now = time.perf_counter_ns()
    stats = request.app[STATS_KEY]
    stats["requests"] += 1
    stats["last_request_ns"] = now
    if stats["first_request_ns"] is None:
        stats["first_request_ns"] = now
    body = orjson.loads(await request.read())
    if not body.get("stream"):
        return web.Response(body=BODY, content_type="application/json")
    paced = body["paced"] if "paced" in body else request.app[PACED_KEY]
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    if paced:
        chunks = _stream_length(request.app, paced)
        await _paced(response, chunks, float(paced["interval_ms"]) / 1e3, bool(paced.get("aligned")))
    else:
        await response.write(STREAM)
    await response.write_eof()
    return response


async def _paced(response: web.StreamResponse, chunks: int, interval_s: float, aligned: bool = False) -> None:
    """Role chunk, `chunks` timestamped content chunks `interval_s` apart, finish, usage, [DONE]."""
    loop = asyncio.get_running_loop()
    await response.write(_ROLE)
    start = loop.time()
    if aligned:
        start = math.ceil(start / interval_s) * interval_s
    for number in range(chunks):
        delay = start + number * interval_s - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        await response.write(_STAMP_HEAD + str(time.perf_counter_ns()).encode() + _STAMP_TAIL)
    usage = {"prompt_tokens": 8, "completion_tokens": chunks, "total_tokens": 8 + chunks}
    await response.write(_FINISH + b"data: " + orjson.dumps({"choices": [], "usage": usage}) + b"\n\ndata: [DONE]\n\n")


async def _stats(request: web.Request) -> web.Response:
    return web.Response(body=orjson.dumps(request.app[STATS_KEY]), content_type="application/json")


async def _reset(request: web.Request) -> web.Response:
    request.app[STATS_KEY].update(_new_stats())
    return web.Response(body=b"{}", content_type="application/json")


async def serve(port: int = 0, paced: dict[str, float] | None = None) -> None:
    app = web.Application()
    app[STATS_KEY] = _new_stats()
    app[PACED_KEY] = paced
    app[LENGTHS_KEY] = {}
    app.router.add_post("/v1/chat/completions", _answer)
    app.router.add_get("/stats", _stats)
    app.router.add_post("/stats/reset", _reset)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port, backlog=4096)
    await site.start()
    print(f"PORT {runner.addresses[0][1]}", flush=True)  # the bound port: `port` may be 0
    await asyncio.Event().wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument(
        "--paced",
        nargs=2,
        type=float,
        metavar=("CHUNKS", "INTERVAL_MS"),
        help="pace every streaming answer: CHUNKS timestamped content chunks INTERVAL_MS apart",
    )
    args = parser.parse_args(argv)
    paced = {"chunks": int(args.paced[0]), "interval_ms": args.paced[1]} if args.paced else None
    try:
        asyncio.run(serve(args.port, paced))
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
