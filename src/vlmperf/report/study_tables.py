"""The two studies' tables, laid out the way their authors did, as markdown (`report --format study`).

- Endpoint cells fill the provider study's tables: vision-language models (model id, type,
  provider, avg / median / min / max latency, avg caption length) and text models (model id,
  type, provider, avg / median latency, captions per request, total captions, avg response
  length). Latency is `e2e_s` (request start to the last content chunk); lengths are
  `output_chars`. `type` is VLM when the cell's task sends images, text when it does not.
- Local cells fill the local study's table: one row per point, its swept values, then quality,
  latency (`latency_s`, one generate call over a batch), energy per sample and FLOPs per sample,
  then how far each point is from its device's limit: `limit_ratio` p50 (latency over its
  physical floor, 38.4x) and `mbu` p50 (decode's share of the peak memory bandwidth). Where a
  peak is unknown those two are `-`, and a line under the table says why (`info.limits`).
- Cells of another kind fill a table of their kind's headline columns (`KindReport.headline`).
Which layout a kind's cells fill is its `KindReport.study_table`. The two studies' tables end with the
percentiles and the interval their authors did not have: latency p90, p99 and the 95% bootstrap
interval of the mean.
Everything comes from the run document's summaries.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from vlmperf.backends.registry import KINDS
from vlmperf.backends.target_kind import TargetKind
from vlmperf.report.tables import (
    HEADLINE_QUALITY,
    format_value,
    headline_quality,
    kind_of,
    markdown_cell,
    varying_keys,
)
from vlmperf.workloads.tasks import TASKS

Cell = dict[str, Any]
Column = tuple[str, Callable[[Cell], str]]


def _stat(cell: Cell, metric: str, stat: str) -> float | None:
    return (cell["metrics"].get(metric) or {}).get(stat)


def _seconds(metric: str, stat: str, digits: int = 3) -> Callable[[Cell], str]:
    """Seconds to `digits` significant digits, as the studies wrote them (2.35s, 0.3495s)."""

    def show(cell: Cell) -> str:
        value = _stat(cell, metric, stat)
        return "-" if value is None else f"{value:.{digits}g}s"

    return show


def _plain(metric: str, stat: str, fmt: str = "{:.4g}", unit: str = "") -> Callable[[Cell], str]:
    def show(cell: Cell) -> str:
        value = _stat(cell, metric, stat)
        return "-" if value is None else fmt.format(value) + unit

    return show


def _ci95(cell: Cell, metric: str) -> list[float] | None:
    """The 95% interval of a cell's metric, [low, high], or None when the cell lacks one."""
    return (cell["metrics"].get(metric) or {}).get("ci95")


def _interval(metric: str, digits: int = 3) -> Callable[[Cell], str]:
    def show(cell: Cell) -> str:
        ci = _ci95(cell, metric)
        return "-" if not ci else f"{ci[0]:.{digits}g} – {ci[1]:.{digits}g}s"

    return show


def _si(value: float, unit: str) -> str:
    """A count with an SI prefix: 11030000000000 FLOP -> 11.03 TFLOP (a count, not a rate)."""
    for factor, prefix in ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:.2f} {prefix}{unit}"
    return f"{value:.3g} {unit}"


def _table(columns: list[Column], cells: list[Cell]) -> list[str]:
    lines = ["| " + " | ".join(title for title, _ in columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(markdown_cell(show(cell)) for _, show in columns) + " |" for cell in cells]
    return lines


# the provider study -----------------------------------------------------------------------------
def model_type(cell: Cell) -> str:
    """VLM when the cell's task sends images, text when it does not (from the task registry)."""
    task = TASKS.get(cell["config"].get("workload.task"))
    return "-" if task is None else ("VLM" if task.sends_images else "text")


def _model_id(cell: Cell) -> str:
    config = cell["config"]
    return f"`{config.get('target.label') or config.get('target.model')}`"


def _provider(cell: Cell) -> str:
    config = cell["config"]
    return str(config.get("target.provider") or config.get("target.preset") or "-")


SPREAD: list[Column] = [
    ("p90 latency", _seconds("e2e_s", "p90")),
    ("p99 latency", _seconds("e2e_s", "p99")),
    ("95% CI of avg latency", _interval("e2e_s")),
    ("requests", _plain("e2e_s", "n", "{:.0f}")),
]
VLM_COLUMNS: list[Column] = [
    ("Model ID", _model_id),
    ("Type", model_type),
    ("Provider", _provider),
    ("Avg Latency", _seconds("e2e_s", "mean")),
    ("Median Latency", _seconds("e2e_s", "p50")),
    ("Min / Max Latency", lambda c: f"{_seconds('e2e_s', 'min')(c)} / {_seconds('e2e_s', 'max')(c)}"),
    ("Avg Caption Length", _plain("output_chars", "mean", "{:.0f}", " chars")),
    *SPREAD,
]
TEXT_COLUMNS: list[Column] = [
    ("Model ID", _model_id),
    ("Type", model_type),
    ("Provider", _provider),
    ("Avg Latency", _seconds("e2e_s", "mean")),
    ("Median Latency", _seconds("e2e_s", "p50")),
    ("Avg Captions/Request", _plain("captions_per_request", "mean", "{:.1f}")),
    ("Total Captions", _plain("total_captions", "value", "{:.0f}")),
    ("Avg Response Length", _plain("output_chars", "mean", "{:.0f}", " chars")),
    *SPREAD,
]


def providers_tables(cells: list[Cell]) -> list[str]:
    """The provider study's two tables (vision-language models, text models) of endpoint cells."""
    lines: list[str] = []
    ok = [c for c in cells if c["status"] == "ok"]
    for title, kind, columns in (("Vision-language models", "VLM", VLM_COLUMNS), ("Text models", "text", TEXT_COLUMNS)):
        chosen = [c for c in ok if model_type(c) == kind]
        if chosen:
            lines += [f"#### {title}", "", *_table(columns, chosen), ""]
    other = [c for c in ok if model_type(c) not in ("VLM", "text")]
    if other:
        lines += ["#### Other tasks", "", *_table(VLM_COLUMNS, other), ""]
    for cell in ok:
        errors = cell["metrics"].get("error_rate") or {}
        if errors.get("value"):
            by_class = ", ".join(f"{k} {v}" for k, v in (errors.get("by_class") or {}).items())
            lines.append(
                f"- {_model_id(cell)}: {errors['value']:.0%} of requests failed ({by_class}); latency is of the rest"
            )
    return lines


# the local study ---------------------------------------------------------------------------------
def _quality(cell: Cell) -> str:
    return headline_quality(cell["metrics"])


def _flops(cell: Cell) -> str:
    value = _stat(cell, "flops", "mean")
    return "-" if value is None else _si(value, "FLOP")


def point_keys(cells: list[Cell]) -> list[str]:
    """What tells the points apart: the keys the sweep set, else the keys that vary, else the model."""
    keys: list[str] = []
    for cell in cells:
        keys += [k for k in cell.get("swept") or {} if k not in keys]
    return keys or varying_keys(cells) or ["target.model"]


def _config_value(key: str) -> Callable[[Cell], str]:
    """A cell's value of config `key`, `-` where it has none."""

    def show(cell: Cell) -> str:
        return str(cell["config"].get(key, "-"))

    return show


def local_columns(cells: list[Cell]) -> list[Column]:
    keys = point_keys(cells)
    columns: list[Column] = [(key, _config_value(key)) for key in keys]
    if any(name in c["metrics"] for c in cells for name in HEADLINE_QUALITY):
        columns.append(("quality", _quality))
    if any("wer" in c["metrics"] for c in cells):
        columns.append(
            ("wer", lambda c: "-" if _stat(c, "wer", "value") is None else f"{_stat(c, 'wer', 'value'):.4g}")
        )
    return columns + [
        ("latency p50", _seconds("latency_s", "p50", 4)),
        ("energy / sample", _plain("energy_per_sample_j", "mean", unit=" J")),
        ("FLOPs / sample", _flops),
        ("limit ratio", _plain("limit_ratio", "p50", "{:.1f}", "x")),
        ("MBU", _plain("mbu", "p50", "{:.1%}")),
        ("latency p90", _seconds("latency_s", "p90", 4)),
        ("latency p99", _seconds("latency_s", "p99", 4)),
        ("95% CI of mean latency", _interval("latency_s", 4)),
        ("runs", _plain("latency_s", "n", "{:.0f}")),
    ]


def no_limit(cells: list[Cell]) -> list[str]:
    """Why some points have no limit ratio: each distinct reason their `info.limits` gives, once
    (a missing peak, or no byte count for the model), so a `-` in that column is explained."""
    unlimited = [c for c in cells if _stat(c, "limit_ratio", "p50") is None]
    reasons: dict[str | None, None] = {}
    for cell in unlimited:
        limits = (cell.get("info") or {}).get("limits") or {}
        reasons.update(dict.fromkeys([*(limits.get("missing") or []), limits.get("why_no_memory_traffic")]))
    shown = [r for r in reasons if r]
    if not shown:
        return []
    return [f"- no limit ratio for {len(unlimited)} of {len(cells)} point(s): {markdown_cell('; '.join(shown))}"]


def local_table(cells: list[Cell]) -> list[str]:
    """The local study's table: one row per finished point, and why a point has no limit ratio."""
    ok = [c for c in cells if c["status"] == "ok"]
    return _table(local_columns(ok), ok) + [""] + no_limit(ok) if ok else []


def headline_table(kind: TargetKind, cells: list[Cell]) -> list[str]:
    """A kind without a study layout of its own: one row per finished point, its headline columns."""
    ok = [c for c in cells if c["status"] == "ok"]
    columns: list[Column] = [(key, _config_value(key)) for key in point_keys(ok)]
    columns += [(title, _shown(metric, stat)) for metric, stat, title in kind.report.headline]
    return _table(columns, ok) + [""] if ok else []


def _shown(metric: str, stat: str) -> Callable[[Cell], str]:
    def show(cell: Cell) -> str:
        return format_value(metric, _stat(cell, metric, stat))

    return show


LAYOUTS: dict[str, Callable[[list[Cell]], list[str]]] = {"providers": providers_tables, "points": local_table}
"""The studies' layouts by name (`KindReport.study_table`); any other name is `headline_table`."""


# the whole report --------------------------------------------------------------------------------
def render_study_markdown(document: dict[str, Any]) -> str:
    """The run as the studies' tables: provider tables for endpoint cells, the local table for local ones, each
    kind's in registry order.

    Failed cells are listed under the tables with their error, so a missing row is explained.
    """
    run = document["run"]
    status = "" if run["status"] == "complete" else f" [{run['status']}]"
    lines = [markdown_cell(f"### run {run['id']} ({run['name']}){status}"), ""]
    cells = document["cells"]
    for kind in KINDS.values():
        mine = [c for c in cells if kind_of(c) == kind.name]
        layout = LAYOUTS.get(kind.report.study_table)
        if mine:
            lines += layout(mine) if layout else headline_table(kind, mine)
    for name in sorted({kind_of(c) for c in cells} - set(KINDS)):
        lines.append(f"- cells of target kind {markdown_cell(name)} are not tabulated: no such kind is registered here")
    for cell in cells:
        if cell["status"] != "ok":
            error = cell["error"] or {}
            message = (error.get("message") or "").splitlines()[0] if error.get("message") else ""
            lines.append(f"- cell {cell['id']} failed: {error.get('type', 'error')}: {markdown_cell(message)}")
    if not any(c["status"] == "ok" for c in cells):
        lines.append("no cell finished: there is nothing to tabulate")
    return "\n".join(lines).rstrip() + "\n"
