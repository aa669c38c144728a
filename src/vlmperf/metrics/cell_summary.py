"""A cell's summary: every metric's distribution over the cell's records."""

from __future__ import annotations

from collections.abc import Sequence

from vlmperf.metrics.definitions import METRICS, Record
from vlmperf.metrics.summary import summarize
from vlmperf.metrics.summary_types import MetricSummary


def summarize_records(records: Sequence[Record]) -> dict[str, MetricSummary]:
    """`{metric: {p50, p90, p99, mean, min, max, std, n, ci95}}` for metrics with at least one value; the
    backends add their cell figures and quality scores beside them (`summary_types.CellSummary`)."""
    summary = {}
    for name, metric in METRICS.items():
        stats = summarize(metric.values(records))
        if stats is not None:
            summary[name] = stats
    return summary
