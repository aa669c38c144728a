"""Whether a cell's figures can be trusted: how much its main latency varied, and whether the machine
was shared or the GPU held back while it was measured.

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
- `contention` (`meters.cpu_contention`): CPU time other processes took on this process's CPUs
  during the timed windows; `contended` when their share of those CPUs' capacity is above
  `CONTENDED_SHARE`. An endpoint on this machine's loopback address is never flagged: its server is
  one of the other processes, and its CPU time is part of what is measured;
- `gpu_clocks` (`meters.gpu_clock_watch`): the clock-event reasons and SM clock seen at the windows'
  edges; `throttled` when a power, thermal or hardware slowdown was among them.

`flags` lists the flags raised (`noisy`, `contended`, `throttled`; empty for a cell that can be
trusted) and `reasons` one sentence for each. `vlmperf compare` does not call a change significant
between cells flagged unstable (any flag) unless asked to (`--allow-unstable`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from vlmperf.metrics.summary import bootstrap_ci

NOISY_CV = 0.10
"""A main latency whose standard deviation is above this share of its mean is `noisy` (pyperf's 10%)."""
WIDE_P50_CI = 0.05
"""A median whose 95% interval is wider than this share of it is `noisy`."""
CONTENDED_SHARE = 0.10
"""Other processes' CPU time above this share of this process's CPUs' capacity makes a cell `contended`."""
FLAGS = ("noisy", "contended", "throttled")


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


def stability(
    metric: str,
    values: Sequence[float],
    contention: dict[str, Any] | None,
    gpu_clocks: dict[str, Any] | None,
    *,
    contention_counts: bool = True,
    why_not_counted: str | None = None,
) -> dict[str, Any]:
    """A cell's stability (see the module docstring) from its main latency's values and what the meters
    saw during its windows. `contention_counts`: False where other processes' CPU time is part of
    what is measured (`why_not_counted` says why)."""
    variation = _variation(values)
    reasons: dict[str, str] = {}
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
    if noisy:
        reasons["noisy"] = "; ".join(noisy) + ": measure again on a quiet machine, or with more runs"
    share = contention.get("other_cpu_share") if contention else None
    if contention and contention_counts and share is not None and share > CONTENDED_SHARE:
        reasons["contended"] = (
            f"other processes used {share:.1%} of this process's {contention['cpus']} CPU(s) during the timed "
            f"windows (over {CONTENDED_SHARE:.0%}): measure again when the machine is quiet"
        )
    throttles = (gpu_clocks or {}).get("throttle_reasons") or []
    if throttles:
        reasons["throttled"] = (
            f"the GPU's clocks were held back by {', '.join(throttles)} during the timed windows: "
            "check its cooling and power limit (nvidia-smi -q -d PERFORMANCE)"
        )
    out = {"metric": metric, **variation, "contention": contention, "gpu_clocks": gpu_clocks}
    if not contention_counts:
        out["contention_not_counted"] = why_not_counted
    return {**out, "flags": [flag for flag in FLAGS if flag in reasons], "reasons": reasons}


def flags_of(cell: dict[str, Any]) -> list[str]:
    """The stability flags of a cell of a run document (none for a cell stored before they were kept)."""
    return list((cell.get("stability") or {}).get("flags") or [])
