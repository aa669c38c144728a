"""When an open-loop scenario sends: absolute deadlines, and a wait that is never early.

Deadlines are computed from the start time and the request's number (constant spacing) or from a
seeded stream of exponential gaps (Poisson arrivals), never from the previous send, so lateness
does not accumulate. Waiting sleeps until just before the deadline and then yields to the loop
until it has passed: asyncio's timers fire up to about a millisecond late, which at 1,000
requests/s would be the whole gap.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Iterator

SPIN_NS = 1_500_000
"""How long before a deadline sleeping stops and the wait only yields to the loop."""


def deadlines(start_ns: int, rate: float, arrival: str, seed: int) -> Iterator[int]:
    """Send times (perf_counter ns) of requests 0, 1, 2, ... at `rate` per second."""
    if arrival == "constant":
        gap = 1e9 / rate
        number = 0
        while True:
            yield start_ns + round(number * gap)
            number += 1
    rng = random.Random(seed)
    elapsed = 0.0
    while True:
        yield start_ns + round(elapsed)
        elapsed += rng.expovariate(rate) * 1e9


async def wait_until(deadline_ns: int) -> None:
    """Return at the first loop turn at or after `deadline_ns` (perf_counter ns)."""
    remaining = deadline_ns - time.perf_counter_ns()
    if remaining > SPIN_NS:
        await asyncio.sleep((remaining - SPIN_NS) / 1e9)
    while time.perf_counter_ns() < deadline_ns:
        await asyncio.sleep(0)
