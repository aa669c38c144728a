"""Reproducible subset selection: the same seed and the same split always give the same row indices.

With random access (a prepared split, a jsonl file) the subset is
`sorted(random.Random(seed).sample(range(n), limit))`. A stream cannot be indexed, so:
- when the split's length is known (the dataset card or parquet footers say it), the very same
  indices are chosen and the stream is read once, in order, up to the last of them; streaming or
  not then gives the same rows;
- when it is not known, a seeded reservoir sample (Algorithm R) of `limit` rows over the whole
  stream: uniform and reproducible, but a different subset than the indexed one, and it reads
  the whole split. `selection="first"` is the cheap alternative: the first `limit` rows.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from typing import TypeVar

from vlmperf.errors import InputError

T = TypeVar("T")


def choose_indices(n: int, limit: int | None, seed: int, selection: str) -> tuple[list[int], str]:
    """The selected row indices of a split of `n` rows, ascending, and the method that chose them."""
    if limit is None or limit >= n:
        return list(range(n)), "all"
    if selection == "first":
        return list(range(limit)), "first"
    return sorted(random.Random(seed).sample(range(n), limit)), "random"


def pick(rows: Iterable[T], wanted: Sequence[int], where: str) -> list[tuple[int, T]]:
    """Take the rows at the ascending indices `wanted` from a stream, stopping after the last one."""
    chosen: list[tuple[int, T]] = []
    if not wanted:
        return chosen
    targets = iter(wanted)
    target: int | None = next(targets)
    seen = 0
    for index, row in enumerate(rows):
        seen = index + 1
        if index == target:
            chosen.append((index, row))
            target = next(targets, None)
            if target is None:
                return chosen
    raise InputError(
        f"{where} ended after {seen} rows, before row {target} that its declared length promised; "
        "the dataset card's row count is wrong: set streaming: false"
    )


def reservoir(rows: Iterable[T], limit: int, seed: int) -> tuple[list[tuple[int, T]], int]:
    """A seeded uniform sample of `limit` rows from a stream of unknown length, in row order, and the
    stream's length."""
    rng = random.Random(seed)
    kept: list[tuple[int, T]] = []
    count = 0
    for index, row in enumerate(rows):
        count = index + 1
        if index < limit:
            kept.append((index, row))
        else:
            slot = rng.randrange(index + 1)
            if slot < limit:
                kept[slot] = (index, row)
    return sorted(kept, key=lambda pair: pair[0]), count


def first(rows: Iterable[T], limit: int | None) -> list[tuple[int, T]]:
    """The first `limit` rows of a stream (all of them when limit is None)."""
    chosen: list[tuple[int, T]] = []
    for index, row in enumerate(rows):
        if limit is not None and index >= limit:
            break
        chosen.append((index, row))
    return chosen
