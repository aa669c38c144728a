"""How a distribution of measurements is summarised: the same statistics for every metric.

Percentiles use linear interpolation between order statistics (numpy's default, the same as
`statistics.quantiles(..., method="inclusive")`). `std` is the sample standard deviation (n - 1).
`ci95` is a percentile bootstrap interval of the mean (2,000 resamples, fixed seed, so the same
records always give the same interval); it is null below 5 values, where it means little.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import get_args

import numpy as np

from vlmperf.metrics.summary_types import MetricSummary, Statistic

STATISTICS: tuple[Statistic, ...] = get_args(Statistic)
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_MIN_N = 5
BOOTSTRAP_SEED = 20261122


def bootstrap_ci(
    values: np.ndarray, statistic: Callable[..., np.ndarray] = np.mean, level: float = 0.95
) -> tuple[float, float] | None:
    """Percentile bootstrap interval of `statistic` (a numpy reduction taking `axis`: np.mean,
    np.median), or None when there are too few values."""
    if values.size < BOOTSTRAP_MIN_N:
        return None
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    resampled = statistic(rng.choice(values, size=(BOOTSTRAP_RESAMPLES, values.size), replace=True), axis=1)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(resampled, [tail, 100 - tail])
    return float(low), float(high)


def bootstrap_mean_ci(values: np.ndarray, level: float = 0.95) -> tuple[float, float] | None:
    """Percentile bootstrap interval of the mean, or None when there are too few values."""
    return bootstrap_ci(values, np.mean, level)


def summarize(values: Sequence[float | None]) -> MetricSummary | None:
    """The summary of the non-null values (`MetricSummary`: its keys are the public schema), or None when
    there are none."""
    data = np.asarray([v for v in values if v is not None], dtype=float)
    if data.size == 0:
        return None
    p50, p90, p99 = np.percentile(data, [50, 90, 99])
    interval = bootstrap_mean_ci(data)
    return {
        "p50": float(p50),
        "p90": float(p90),
        "p99": float(p99),
        "mean": float(data.mean()),
        "min": float(data.min()),
        "max": float(data.max()),
        "std": float(data.std(ddof=1)) if data.size > 1 else 0.0,
        "n": int(data.size),
        "ci95": list(interval) if interval else None,
    }


def tail(values: Sequence[float]) -> dict[str, float | None]:
    """p50, p99 and max: the short form for a client's own timings (loop lag, lateness, floor)."""
    if not len(values):
        return {"p50": None, "p99": None, "max": None}
    data = np.asarray(values, dtype=float)
    p50, p99 = np.percentile(data, [50, 99])
    return {"p50": float(p50), "p99": float(p99), "max": float(data.max())}
