"""A loopback chat-completions server that answers at once, for measuring the client itself.

Every POST to `/v1/chat/completions` gets a fixed three-chunk stream (or a JSON body when the
request does not stream) with no waiting, so whatever time a request takes is the client's, the
loopback's and this server's fixed cost. It runs in its own process (`python -m
vlmperf.load.instant_server`), so it does not share the client's event loop or GIL; it prints
`PORT <n>` once it listens on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

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
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "A calibration answer."}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 8, "completion_tokens": 3, "total_tokens": 11},
    }
)


async def _answer(request: web.Request) -> web.StreamResponse:
    body = orjson.loads(await request.read())
    if not body.get("stream"):
        return web.Response(body=BODY, content_type="application/json")
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    await response.write(STREAM)
    await response.write_eof()
    return response


async def serve(port: int = 0) -> None:
    app = web.Application()
    app.router.add_post("/v1/chat/completions", _answer)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port, backlog=4096)
    await site.start()
    sockets = site._server.sockets if site._server else []  # aiohttp exposes no public accessor
    print(f"PORT {sockets[0].getsockname()[1]}", flush=True)
    await asyncio.Event().wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        asyncio.run(serve(args.port))
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
