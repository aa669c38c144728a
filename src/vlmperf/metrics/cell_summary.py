"""A cell's summary: every metric's distribution over the cell's records."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from vlmperf.metrics.definitions import METRICS, Record
from vlmperf.metrics.summary import summarize


def summarize_records(records: Sequence[Record]) -> dict[str, Any]:
    """`{metric: {p50, p90, p99, mean, min, max, std, n, ci95}}` for metrics with at least one value."""
    summary = {}
    for name, metric in METRICS.items():
        stats = summarize(metric.values(records))
        if stats is not None:
            summary[name] = stats
    return summary
