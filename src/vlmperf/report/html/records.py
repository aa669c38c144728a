"""What the page takes from a cell's records: a downsampled latency CDF and a few outputs.

Records are never embedded: a run may hold 100,000 of them. Each cell's records are read once,
reduced here with numpy to at most `CDF_POINTS` points of its latency distribution and the first
`SAMPLES_SHOWN` outputs, and dropped before the next cell is read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vlmperf.backends.registry import KINDS
from vlmperf.metrics.definitions import METRICS

Record = dict[str, Any]
RecordSource = Callable[[str], Iterable[Record]]
"""Gives the records of one cell, by cell id (what `Store.records(run_id, cell_id)` returns)."""

CDF_POINTS = 200
SAMPLES_SHOWN = 3


@dataclass
class CellRecords:
    """The reduced records of one cell."""

    records: int = 0
    cdf_metric: str | None = None
    cdf_x: list[float] = field(default_factory=list)
    """Latency values in seconds, ascending, at most CDF_POINTS of them."""
    cdf_y: list[float] = field(default_factory=list)
    """Share of the cell's values at or below each x."""
    cdf_n: int = 0
    samples: list[tuple[str, str | None, str | None]] = field(default_factory=list)
    """(sample id, output, error class) of the first samples answered, in record order."""


def record_source(records: Any, run_id: str) -> RecordSource | None:
    """A Store (read by run id), a callable `cell_id -> records`, or None (no records: no CDFs, no outputs)."""
    if records is None:
        return None
    if hasattr(records, "records"):
        store = records
        return lambda cell_id: store.records(run_id, cell_id)
    if callable(records):
        return records
    raise TypeError(
        f"records must be a vlmperf Store or a callable taking a cell id and returning its records, "
        f"not {type(records).__name__}"
    )


def cdf_points(values: np.ndarray, points: int = CDF_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """The empirical CDF of `values` at no more than `points` points, first and last value included.

    Below `points` values every value is a point. Above, the points are order statistics at evenly
    spaced ranks, so the curve keeps its shape, its extremes and its percentiles to 1/points.
    """
    ordered = np.sort(values)
    n = ordered.size
    ranks = np.arange(n) if n <= points else np.unique(np.linspace(0, n - 1, points).round().astype(int))
    return ordered[ranks], (ranks + 1) / n


def _samples(records: list[Record]) -> list[tuple[str, str | None, str | None]]:
    """The first SAMPLES_SHOWN distinct samples with their first output (or the request's error class)."""
    seen: dict[str, tuple[str, str | None, str | None]] = {}
    for record in records:
        error = record.get("error")
        error_class = error.get("class") if isinstance(error, dict) else None
        # not strict: a run stored before outputs were recorded has sample ids and no outputs
        for sample_id, output in zip(record.get("sample_ids") or [], record.get("outputs") or [], strict=False):
            key = str(sample_id)
            if key not in seen or (seen[key][1] is None and output is not None):
                seen[key] = (key, output, None if output is not None else error_class)
        if len(seen) >= SAMPLES_SHOWN and all(v[1] is not None for v in seen.values()):
            break
    return list(seen.values())[:SAMPLES_SHOWN]


def reduce_records(records: Iterable[Record], kind: str) -> CellRecords:
    """One cell's records reduced to what the page shows (see the module docstring)."""
    listed = sorted(records, key=lambda r: r.get("seq", 0))
    reduced = CellRecords(records=len(listed), samples=_samples(listed))
    known = KINDS.get(kind)
    name = (
        known.report.latency if known else None
    )  # the kind's main latency (a run of a kind not registered here: none)
    if name is None or not listed:
        return reduced
    values = np.asarray([v for v in METRICS[name].values(listed) if v is not None], dtype=float)
    if values.size:
        x, y = cdf_points(values)
        reduced.cdf_metric, reduced.cdf_x, reduced.cdf_y, reduced.cdf_n = name, x.tolist(), y.tolist(), int(values.size)
    return reduced
