"""The shapes of a cell's summary, typed so mypy checks their keys where summaries are built and read.

A cell's summary (a run document cell's `metrics`) maps each name to one of three entries:
- `MetricSummary`: a metric's distribution over the cell's records (`vlmperf.metrics.summary.summarize`);
- `FigureValue`: a figure of the cell as a whole (`CELL_FIGURES`: an endpoint cell's load figures in
  `vlmperf.metrics.load_figures`, `compile_s`), `{"value": ...}` with the extra key a few carry;
- `ScoreValue`: a quality score over the cell's samples (`vlmperf.scoring.result.MetricResult.as_dict`),
  or `agreement_vs_reference` with its `reference_cell` (`vlmperf.runner.agreement`).

They are TypedDicts, not classes of their own, so a summary stays the plain dict the store serialises and
the public JSON shows, byte for byte, and costs nothing at run time. Each is `final`, so `"p50" in entry`
tells mypy which of the three an entry is. Readers that only know at run time which figure they want (a
table's column, a plot's statistic) go through `statistic`, `interval` and `figure`.

No `from __future__ import annotations` here: TypedDict reads `NotRequired` only from evaluated
annotations (with string annotations every key would count as required).
"""

from collections.abc import Mapping
from typing import Literal, NotRequired, TypedDict, final

Statistic = Literal["p50", "p90", "p99", "mean", "min", "max", "std", "n"]
"""The statistics of every metric's distribution, in the public order (ci95 beside them)."""


@final
class MetricSummary(TypedDict):
    """A metric's distribution over a cell's records: percentiles, mean, extremes and sample standard
    deviation in the metric's unit, `n` values, and the 95% bootstrap interval of the mean (`[low, high]`,
    null below 5 values)."""

    p50: float
    p90: float
    p99: float
    mean: float
    min: float
    max: float
    std: float
    n: int
    ci95: list[float] | None


@final
class FigureValue(TypedDict):
    """A figure of the cell as a whole: a number, a flag (`client_bound`), counts by provider (`served_by`),
    or null where it does not apply; `error_rate` adds its `by_class` counts, `client_bound` its `why`,
    `served_by` its `source`."""

    value: float | bool | dict[str, int] | None
    by_class: NotRequired[dict[str, int]]
    why: NotRequired[list[str]]
    source: NotRequired[str]


@final
class ScoreValue(TypedDict):
    """A quality score over a cell's `n` samples with its 95% bootstrap interval (null below 5 samples);
    `agreement_vs_reference` names the cell it was compared with."""

    value: float
    ci95: list[float] | None
    n: int
    reference_cell: NotRequired[str]


SummaryEntry = MetricSummary | FigureValue | ScoreValue
CellSummary = dict[str, SummaryEntry]
"""A cell's summary: every name (a metric, a cell figure, a quality score) to its entry."""


def statistic(summary: Mapping[str, SummaryEntry], name: str, part: str) -> float | None:
    """One number of one entry (`p50`, `mean`, `n`, `value`, ...): None when the cell lacks it or it is not a
    number (a flag, counts by provider, null)."""
    entry = summary.get(name)
    value = entry.get(part) if entry is not None else None
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def interval(summary: Mapping[str, SummaryEntry], name: str) -> tuple[float, float] | None:
    """The 95% interval of a distribution's mean or of a score, or None when the entry has none."""
    entry = summary.get(name)
    if entry is None or "ci95" not in entry or not entry["ci95"]:
        return None
    low, high = entry["ci95"]
    return float(low), float(high)


def figure(summary: Mapping[str, SummaryEntry], name: str) -> FigureValue | None:
    """A figure of the cell as a whole, or None when the cell lacks it (or holds a distribution or a score
    under that name)."""
    entry = summary.get(name)
    if entry is None or "value" not in entry or "ci95" in entry:
        return None
    return entry
