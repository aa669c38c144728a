"""Whether a cell's figures can be trusted: how much its main latency varied, and what the meters that
watch its timed windows saw (the machine shared, the GPU held back) while it was measured.

On a shared machine the same cell can read 32 ms one minute and 562 ms the next; like pyperf's
warnings, each cell says when its figures are shaky, and why, beside them. A cell's `stability`:

- `metric`: its main latency (`latency_s` for a local model, `e2e_s` for an endpoint), over the
  cell's successful records;
- `cv`: that latency's coefficient of variation, sample standard deviation (n - 1) / mean (null
  below 2 values); `noisy` when above `NOISY_CV`. It counts every cause of variation, the content
  too: records whose outputs differ in length (`generation.mode natural`) vary by design, so speed
  work uses `generation.mode fixed`;
- `p50`, `p50_ci95`: the median and its 95% percentile bootstrap interval (2,000 resamples, fixed
  seed; null below 5 values), `p50_ci95_rel_width` = (high - low) / p50; `noisy` when above
  `WIDE_P50_CI`: more runs would be needed to pin the median down;
- then one entry per window watch (`meters.watches`, in the registry's order, listed below): what
  it saw at the edges of the cell's timed windows, null where it does not apply to the cell (a GPU
  watch for a model on a CPU or behind an endpoint) or cannot measure on this machine. Its flag is
  raised when its verdict on that reading is that the figures should not be trusted;
- `<key>_not_counted` (for example `contention_not_counted`), only where set: why a watch's reading,
  kept, does not count: an endpoint on this machine's loopback address does not count the watches
  that see other processes, since its server is one of them.

`flags` lists the flags raised (`noisy`, then the watches' in the registry's order; empty for a cell
that can be trusted) and `reasons` one sentence for each. `vlmperf compare` does not call a change
significant between cells flagged unstable (any flag) unless asked to (`--allow-unstable`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from vlmperf.meters.watches import WATCHES, watch_for
from vlmperf.meters.window_watch import Reading
from vlmperf.metrics.summary import bootstrap_ci

NOISY_CV = 0.10
"""A main latency whose standard deviation is above this share of its mean is `noisy` (pyperf's 10%)."""
WIDE_P50_CI = 0.05
"""A median whose 95% interval is wider than this share of it is `noisy`."""


def _variation(values: Sequence[float]) -> dict[str, Any]:
    data = np.asarray(values, dtype=float)
    mean = float(data.mean()) if data.size else None
    cv = float(data.std(ddof=1)) / mean if data.size > 1 and mean else None
    p50 = float(np.median(data)) if data.size else None
    interval = bootstrap_ci(data, np.median)
    width = (interval[1] - interval[0]) / p50 if interval is not None and p50 else None
    return {
        "n": int(data.size),
        "cv": cv,
        "p50": p50,
        "p50_ci95": list(interval) if interval else None,
        "p50_ci95_rel_width": width,
    }


def _noisy(metric: str, variation: dict[str, Any]) -> str | None:
    noisy = []
    if variation["cv"] is not None and variation["cv"] > NOISY_CV:
        noisy.append(
            f"{metric} varied by {variation['cv']:.0%} of its mean (coefficient of variation; over {NOISY_CV:.0%})"
        )
    if variation["p50_ci95_rel_width"] is not None and variation["p50_ci95_rel_width"] > WIDE_P50_CI:
        noisy.append(
            f"the 95% interval of its median is {variation['p50_ci95_rel_width']:.0%} of it wide "
            f"(over {WIDE_P50_CI:.0%})"
        )
    return "; ".join(noisy) + ": measure again on a quiet machine, or with more runs" if noisy else None


def stability(
    metric: str,
    values: Sequence[float],
    readings: Mapping[str, Reading | None],
    *,
    not_counted: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A cell's stability (see the module docstring) from its main latency's values and the readings of
    the window watches opened for it (`OpenWatches.readings`; a registered watch not among them reads
    null). `not_counted`: the keys of readings that do not count against the cell, each with why.
    ValueError for a key no registered watch has."""
    not_counted = dict(not_counted or {})
    for key in [*readings, *not_counted]:
        watch_for(key)
    variation = _variation(values)
    reasons: dict[str, str] = {}
    if (noisy := _noisy(metric, variation)) is not None:
        reasons["noisy"] = noisy
    flags = ["noisy"]
    for watch in WATCHES.values():
        flags.append(watch.flag)
        reading = readings.get(watch.key)
        if reading and watch.key not in not_counted and (verdict := watch.verdict(reading)) is not None:
            reasons[watch.flag] = verdict
    out = {"metric": metric, **variation, **{key: readings.get(key) for key in WATCHES}}
    out.update({f"{key}_not_counted": why for key, why in not_counted.items()})
    return {**out, "flags": [flag for flag in flags if flag in reasons], "reasons": reasons}


def flags_of(cell: dict[str, Any]) -> list[str]:
    """The stability flags of a cell of a run document (none for a cell stored before they were kept)."""
    return list((cell.get("stability") or {}).get("flags") or [])
