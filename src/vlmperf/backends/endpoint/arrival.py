"""When a response's bytes reached this process, stamped by its connection as they arrive.

A stream's reader runs only when the event loop gets to it. With many streams in flight, one turn
of the loop first hands every ready connection's bytes to aiohttp's parser (the protocol's
`data_received`), then resumes the waiting readers one after another; a reader that stamped the
time itself would stamp its chunk after every other reader of that turn had done its work. So the
connections `connector()` makes note the arrival of each response's first byte not yet read
(`Arrival`, stamped before aiohttp parses the bytes), and a reader takes that stamp with the bytes
(`take`). With 256 paced streams on 2 cores (the load generator benchmark's stream goal, run
in-process through `vlmperf.api.run`, three pairs interleaved) this took the median
chunk-timestamp lag from 0.28-0.54 ms to 0.22-0.37 ms.

aiohttp builds a connection's protocol through its connector's `_factory`; should a release stop
doing so, `arrival_of` returns None and the reader stamps the time itself, as before
(tests/test_endpoint_client.py checks that the installed aiohttp stamps).
"""

from __future__ import annotations

import asyncio
import functools
import time
from typing import Any

import aiohttp
from aiohttp.client_proto import ResponseHandler


class Arrival:
    """The arrival (perf_counter ns) of the first byte of one response not yet read, or None."""

    __slots__ = ("first_unread_ns",)

    def __init__(self) -> None:
        self.first_unread_ns: int | None = None


class StampingProtocol(ResponseHandler):
    """aiohttp's response protocol, noting when the first unread byte of each response arrived.

    A connection carries one request after another: each gets an `Arrival` of its own when aiohttp
    sets it up (`set_response_params`), so a reader still reading one response's buffered bytes
    never takes a stamp of the next request on the same connection."""

    arrival: Arrival | None = None

    def set_response_params(self, *args: Any, **kwargs: Any) -> None:
        self.arrival = Arrival()
        super().set_response_params(*args, **kwargs)

    def data_received(self, data: bytes) -> None:
        arrival = self.arrival
        if data and arrival is not None and arrival.first_unread_ns is None:
            arrival.first_unread_ns = time.perf_counter_ns()
        super().data_received(data)


def _stamping_protocol(loop: asyncio.AbstractEventLoop) -> ResponseHandler:
    """A `StampingProtocol`, typed as the `ResponseHandler` the connector's factory makes."""
    return StampingProtocol(loop=loop)


def connector(**kwargs: Any) -> aiohttp.TCPConnector:
    """An aiohttp TCPConnector (same arguments) whose connections stamp the arrival of their bytes."""
    made = aiohttp.TCPConnector(**kwargs)
    made._factory = functools.partial(_stamping_protocol, loop=made._loop)  # noqa: SLF001 - see the module docstring
    return made


def arrival_of(response: aiohttp.ClientResponse) -> Arrival | None:
    """Before a body is read: its response's `Arrival`, or None when the connection does not stamp.

    A stamp left by bytes already parsed (the headers) is dropped, unless body bytes came with
    them and wait in the buffer."""
    connection = response.connection
    protocol = connection.protocol if connection is not None else None
    if not isinstance(protocol, StampingProtocol) or protocol.arrival is None:
        return None
    if response.content.total_bytes == 0:
        protocol.arrival.first_unread_ns = None
    return protocol.arrival


def take(arrival: Arrival | None) -> int | None:
    """The arrival of the earliest byte the last read returned (None if unknown), and forget it.

    Call right after a read that returned everything buffered (`readany`)."""
    if arrival is None:
        return None
    stamp, arrival.first_unread_ns = arrival.first_unread_ns, None
    return stamp
