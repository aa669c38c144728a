"""Compare two runs cell by cell: is B faster, slower, or not measurably different from A?

Cells are matched by their resolved config (the public schema's flat `config`), except the keys in
`IGNORED_BY_DEFAULT` (how long to measure, not what is measured) and any the caller adds, so a
sweep measured again by a newer build, or on another machine, lines up with its baseline. Cells
of either run that have no partner are listed, each with how it differs from its closest cell in
the other run, so a mismatch is easy to fix with `--ignore`.

Every test reads the records, not the summaries. The two runs are measured independently (not
interleaved), so the design is unpaired and each side is resampled on its own:
- the bootstrap draws 2,000 resamples (with replacement, its own size) of A and, independently,
  of B from one generator with a fixed seed, computes the statistic (p50, p90, p99 or mean) of
  each, and takes the 2.5th and 97.5th percentiles of stat(B*) - stat(A*) as the 95% interval of
  the difference. The change is significant when that interval excludes 0. `delta_pct` is
  100 x (stat(B) - stat(A)) / stat(A), and its interval is the difference's interval scaled by
  the same 100 / stat(A) (so it excludes 0 exactly when the difference's does);
- the Mann-Whitney U test (two-sided) is reported beside it: ranks with ties averaged, the normal
  approximation with the tie-corrected variance and a continuity correction of 0.5.

A pair in which either cell is flagged unstable (`metrics.stability`: noisy, contended, throttled)
is not judged: its figures are reported, but it is never significant, never a regression, and its
verdict says why, unless the caller allows it (`allow_unstable`, `--allow-unstable`). Its row's
`unstable` names each side's flags either way.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from vlmperf.backends.registry import KINDS
from vlmperf.errors import InputError
from vlmperf.metrics.definitions import CELL_FIGURES, METRICS, Better, Record
from vlmperf.metrics.stability import flags_of
from vlmperf.metrics.summary import BOOTSTRAP_MIN_N, BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED
from vlmperf.report.tables import varying_keys
from vlmperf.scoring.definitions import QUALITY_METRICS

Cell = dict[str, Any]
IGNORED_BY_DEFAULT = ("measure.min_runs", "measure.max_runs", "measure.min_duration_s")
"""Keys that set how many records a cell takes, not the conditions of one: never a reason not to match."""
LEVEL = 0.95
CHUNK_VALUES = 4_000_000
"""Resampled values held at once: the bootstrap works in blocks, so a cell of 100,000 records stays small."""

METHOD = {
    "bootstrap": {
        "resamples": BOOTSTRAP_RESAMPLES,
        "seed": BOOTSTRAP_SEED,
        "level": LEVEL,
        "min_n": BOOTSTRAP_MIN_N,
        "scheme": "independent resamples of each run",
        "interval": "percentile, of stat(B) - stat(A)",
    },
    "test": "Mann-Whitney U, two-sided, normal approximation, tie-corrected, continuity correction 0.5",
}
"""How the figures were computed, carried in every comparison so a reader of the JSON knows."""
STATISTICS: dict[str, Callable[..., np.ndarray]] = {
    **{f"p{q}": (lambda x, axis, q=q: np.percentile(x, q, axis=axis)) for q in (50, 90, 99)},
    "mean": np.mean,
}

# direction -------------------------------------------------------------------------------------
SPEED_UNITS = {"s", "1/s", "FLOP/s"}


def direction(metric: str) -> Better:
    """Which way is better, the one rule every comparison uses: what the metric registry says
    (`Metric.better`, `CellFigure.better`: times, energy, memory, FLOP counts, costs lower; rates and
    utilisations higher; counts that describe the work, none), and for quality scores their
    definition (error rates such as wer lower, the others higher). None: a change is reported,
    never a regression.
    """
    if metric in METRICS:
        return METRICS[metric].better
    if metric in CELL_FIGURES:
        return CELL_FIGURES[metric].better
    if metric in QUALITY_METRICS:
        return "lower" if QUALITY_METRICS[metric].lower_is_better else "higher"
    return None


def _verdict(metric: str, low: float, high: float) -> tuple[str, bool]:
    """The word for a change whose difference lies in [low, high], and whether it is for the worse."""
    if low <= 0 <= high:
        return "no significant change", False
    increase, way = low > 0, direction(metric)
    if way is None:
        return ("higher" if increase else "lower"), False
    worse = increase == (way == "lower")
    good, bad = (
        ("faster", "slower") if METRICS.get(metric) and METRICS[metric].unit in SPEED_UNITS else ("better", "worse")
    )
    return (bad if worse else good), worse


# statistics ------------------------------------------------------------------------------------
def _resampled(values: np.ndarray, stat: Callable[..., np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """The statistic of BOOTSTRAP_RESAMPLES resamples with replacement of `values`, drawn in blocks."""
    out = np.empty(BOOTSTRAP_RESAMPLES)
    rows = max(1, min(BOOTSTRAP_RESAMPLES, CHUNK_VALUES // values.size))
    for start in range(0, BOOTSTRAP_RESAMPLES, rows):
        count = min(rows, BOOTSTRAP_RESAMPLES - start)
        out[start : start + count] = stat(values[rng.integers(0, values.size, size=(count, values.size))], axis=1)
    return out


def bootstrap_difference(a: np.ndarray, b: np.ndarray, stat: str = "p50") -> tuple[float, float]:
    """95% percentile interval of stat(B) - stat(A), A and B resampled independently (fixed seed)."""
    function = STATISTICS[stat]
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    difference = _resampled(b, function, rng) - _resampled(a, function, rng)
    low, high = np.percentile(difference, [(1 - LEVEL) / 2 * 100, (1 + LEVEL) / 2 * 100])
    return float(low), float(high)


def mann_whitney(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """(U of B, two-sided p): U counts the pairs (a, b) with b > a, ties as one half.

    p comes from the normal approximation: mean nA*nB/2, variance
    nA*nB/12 * ((n + 1) - sum(t^3 - t) / (n (n - 1))) over the tie groups t of the pooled sample,
    z = (|U - mean| - 0.5) / sd, p = erfc(z / sqrt 2), capped at 1; 1 when every value is tied.
    """
    pooled = np.concatenate([a, b])
    _, inverse, counts = np.unique(pooled, return_inverse=True, return_counts=True)
    average_rank = np.cumsum(counts) - (counts - 1) / 2
    ranks = average_rank[inverse]
    na, nb, n = a.size, b.size, pooled.size
    u_b = float(ranks[na:].sum() - nb * (nb + 1) / 2)
    ties = float((counts.astype(float) ** 3 - counts).sum())
    variance = na * nb / 12 * ((n + 1) - ties / (n * (n - 1)))
    if variance <= 0:
        return u_b, 1.0
    z = max(abs(u_b - na * nb / 2) - 0.5, 0.0) / math.sqrt(variance)
    return u_b, min(1.0, math.erfc(z / math.sqrt(2)))


def _test(metric: str, stat: str, a: np.ndarray, b: np.ndarray) -> dict[str, Any]:
    """The figures of one metric of one matched pair of cells."""
    stat_a, stat_b = float(STATISTICS[stat](a, axis=None)), float(STATISTICS[stat](b, axis=None))
    row: dict[str, Any] = {
        "a": stat_a,
        "b": stat_b,
        "n_a": int(a.size),
        "n_b": int(b.size),
        "delta": stat_b - stat_a,
        "delta_pct": 100 * (stat_b - stat_a) / stat_a if stat_a else None,
        "ci95_delta": None,
        "ci95_delta_pct": None,
        "p_value": None,
        "u_b": None,
        "significant": False,
        "worse": False,
    }
    if min(a.size, b.size) < BOOTSTRAP_MIN_N:
        return {**row, "verdict": f"too few values (A {a.size}, B {b.size}; at least {BOOTSTRAP_MIN_N} each)"}
    low, high = bootstrap_difference(a, b, stat)
    row["u_b"], row["p_value"] = mann_whitney(a, b)
    row["ci95_delta"], row["significant"] = [low, high], low > 0 or high < 0
    if stat_a:
        row["ci95_delta_pct"] = sorted([100 * low / stat_a, 100 * high / stat_a])
    row["verdict"], row["worse"] = _verdict(metric, low, high)
    return row


# matching --------------------------------------------------------------------------------------
def _index(document: dict[str, Any], ignored: set[str], side: str) -> dict[str, Cell]:
    """The run's cells by their config without the ignored keys (what must be equal to match)."""
    index: dict[str, Cell] = {}
    for cell in document["cells"]:
        key = json.dumps({k: v for k, v in cell["config"].items() if k not in ignored}, sort_keys=True, default=str)
        if key in index:
            raise InputError(
                f"cells {index[key]['id']} and {cell['id']} of run {side} ({document['run']['id']}) have the same "
                "config once the ignored keys are left out: ignore fewer keys (--ignore) so each cell is told apart"
            )
        index[key] = cell
    return index


def _unmatched(cells: Sequence[Cell], others: Sequence[Cell], matched: set[str], ignored: set[str], side: str) -> list:
    """Cells without a partner, each with how it differs from the closest cell of the other run
    (the closest unmatched one, where there is one: that is most likely the cell it was meant to meet)."""
    candidates = [o for o in others if o["id"] not in matched] or list(others)
    unmatched = []
    for cell in (c for c in cells if c["id"] not in matched):
        best: dict[str, dict[str, Any]] | None = None
        for other in candidates:
            a, b = (cell["config"], other["config"]) if side == "a" else (other["config"], cell["config"])
            diff = {
                k: {"a": a.get(k), "b": b.get(k)} for k in sorted((set(a) | set(b)) - ignored) if a.get(k) != b.get(k)
            }
            best = diff if best is None or len(diff) < len(best) else best
        unmatched.append({"cell": cell["id"], "differs": best or {}})
    return unmatched


def _values(metric: str, records: Iterable[Record]) -> np.ndarray:
    """The metric's non-null values over the records."""
    return np.asarray([v for v in METRICS[metric].values(records) if v is not None], dtype=float)


def _by_cell(records: Iterable[Record]) -> dict[str, list[Record]]:
    grouped: dict[str, list[Record]] = defaultdict(list)
    for record in records:
        grouped[record["cell_id"]].append(record)
    return grouped


def _unstable(cell_a: Cell, cell_b: Cell) -> dict[str, list[str]] | None:
    """Each side's stability flags, or None when neither cell is flagged."""
    flags = {"a": flags_of(cell_a), "b": flags_of(cell_b)}
    return flags if flags["a"] or flags["b"] else None


def _withheld(row: dict[str, Any], unstable: dict[str, list[str]]) -> dict[str, Any]:
    """A row of an unstable pair, its figures kept and its judgement withheld."""
    said = ", ".join(f"{side.upper()} {' and '.join(flags)}" for side, flags in unstable.items() if flags)
    verdict = f"not judged: {said} (see their stability; --allow-unstable to judge)"
    return {**row, "significant": False, "worse": False, "verdict": verdict, "judged": False}


def check_metrics(metrics: Sequence[str], stat: str) -> None:
    """Refuse what cannot be compared from records, naming what can."""
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise InputError(
            f"--metric {', '.join(unknown)}: not a per-record metric; compare reads records, so use one of "
            f"{', '.join(METRICS)} (quality scores are one figure per cell: see their ci95 in `vlmperf report`)"
        )
    if stat not in STATISTICS:
        raise InputError(f"--stat {stat!r} is not known; use one of: {', '.join(STATISTICS)}")


def default_metrics() -> list[str]:
    """Each target kind's main latency (a local generate call's, an endpoint request's): what a comparison
    compares unless told otherwise, each where it is measured."""
    return list(dict.fromkeys(kind.report.latency for kind in KINDS.values()))


def compare_runs(
    doc_a: dict[str, Any],
    records_a: Iterable[Record],
    doc_b: dict[str, Any],
    records_b: Iterable[Record],
    metrics: Sequence[str] | None = None,
    *,
    stat: str = "p50",
    ignore: Iterable[str] = (),
    allow_unstable: bool = False,
) -> dict[str, Any]:
    """B against A, as a JSON-able dict (see the module docstring for the statistics).

    `rows`: one per matched pair of finished cells and metric measured on both sides, with
    `config` (the keys that vary among the matched cells), `a`, `b`, `delta`, `delta_pct`,
    `ci95_delta`, `ci95_delta_pct`, `p_value`, `u_b`, `significant`, `verdict` and `worse`
    (significant and in the bad direction), `unstable` (each side's stability flags, None when neither
    is flagged) and `judged` (False where an unstable pair's judgement was withheld, see the module
    docstring). `skipped`: matched pairs that could not be compared
    and why. `unmatched_a` / `unmatched_b`: cells without a partner, with their closest differences.
    `metrics`: by default each target kind's main latency (`default_metrics`).
    """
    metrics = metrics or default_metrics()
    check_metrics(metrics, stat)
    ignored = set(IGNORED_BY_DEFAULT) | set(ignore)
    index_a, index_b = _index(doc_a, ignored, "A"), _index(doc_b, ignored, "B")
    pairs = [(index_a[key], index_b[key]) for key in index_a if key in index_b]
    shown = varying_keys([a for a, _ in pairs]) if len(pairs) > 1 else []
    grouped_a, grouped_b = _by_cell(records_a), _by_cell(records_b)
    rows, skipped = [], []
    for cell_a, cell_b in pairs:
        label = {"cell_a": cell_a["id"], "cell_b": cell_b["id"], "config": {k: cell_a["config"].get(k) for k in shown}}
        failed = [f"failed in run {side}" for side, cell in (("A", cell_a), ("B", cell_b)) if cell["status"] != "ok"]
        if failed:
            skipped.append({**label, "metric": None, "why": " and ".join(failed)})
            continue
        unstable = _unstable(cell_a, cell_b)
        for metric in metrics:
            a, b = _values(metric, grouped_a[cell_a["id"]]), _values(metric, grouped_b[cell_b["id"]])
            if a.size == 0 and b.size == 0:
                continue  # not a metric of this kind of cell (e2e_s of a local model)
            if a.size == 0 or b.size == 0:
                skipped.append(
                    {**label, "metric": metric, "why": f"no {metric} values in run {'A' if a.size == 0 else 'B'}"}
                )
                continue
            row = {
                **label,
                "metric": metric,
                "stat": stat,
                "direction": direction(metric),
                **_test(metric, stat, a, b),
                "unstable": unstable,
                "judged": True,
            }
            rows.append(_withheld(row, unstable) if unstable and not allow_unstable else row)
    matched = {cell["id"] for pair in pairs for cell in pair}
    return {
        "a": {"run_id": doc_a["run"]["id"], "name": doc_a["run"]["name"]},
        "b": {"run_id": doc_b["run"]["id"], "name": doc_b["run"]["name"]},
        "metrics": list(metrics),
        "stat": stat,
        "ignored_keys": sorted(ignored),
        "allow_unstable": allow_unstable,
        "method": METHOD,
        "keys": shown,
        "rows": rows,
        "skipped": skipped,
        "unmatched_a": _unmatched(doc_a["cells"], doc_b["cells"], matched, ignored, "a"),
        "unmatched_b": _unmatched(doc_b["cells"], doc_a["cells"], matched, ignored, "b"),
    }


def regressions(comparison: dict[str, Any], threshold_pct: float) -> list[dict[str, Any]]:
    """Rows that got worse by more than `threshold_pct` percent, their interval excluding 0.

    A worse row whose baseline statistic is 0 (no percentage) counts as past any threshold.
    """

    def past(row: dict[str, Any]) -> bool:
        pct = row["delta_pct"]
        return pct is None or (pct if row["direction"] == "lower" else -pct) > threshold_pct

    return [row for row in comparison["rows"] if row["worse"] and past(row)]
