"""Flat views of a run document: the summary table's rows, and the wide CSV rows.

The summary table shows what differs between cells (the swept keys), then the headline figures.
Rendering (terminal, markdown, CSV) lives in `render`; this module only decides what is shown.
"""

from __future__ import annotations

import html
from typing import Any

from vlmperf.backends.registry import DEFAULT_KIND, KINDS
from vlmperf.metrics.definitions import METRICS
from vlmperf.metrics.summary import STATISTICS

AGREEMENT = "agreement_vs_reference"
HEADLINE_QUALITY = ("vqa_accuracy", "mcq_accuracy", "cider", "wer")
"""The quality figure the summary table shows, the first a cell has (all are in JSON and CSV)."""


def stability_text(stability: dict[str, Any] | None) -> str:
    """A cell's stability in a few characters: its main latency's coefficient of variation, then its flags
    (`metrics.stability`): "cv 2.1%", "cv 31.0% noisy contended"; "-" for a cell without one."""
    if not stability:
        return "-"
    cv = stability.get("cv")
    return " ".join(["-" if cv is None else f"cv {cv:.1%}", *stability.get("flags", [])])


def stability_lines(document: dict[str, Any]) -> list[str]:
    """One line per flag of each flagged cell, with why (`metrics.stability`): what the table's
    `stability` column abbreviates."""
    return [
        f"cell {cell['id']} {flag}: {reason}"
        for cell in document["cells"]
        for flag, reason in ((cell.get("stability") or {}).get("reasons") or {}).items()
    ]


def headline_quality(metrics: dict[str, Any]) -> str:
    for name in HEADLINE_QUALITY:
        if name in metrics and metrics[name].get("value") is not None:
            return f"{name} {metrics[name]['value']:.3g}"
    return "-"


def headline(cells: list[dict[str, Any]]) -> tuple[tuple[str, str, str], ...]:
    """The summary columns (metric, statistic, title) for the target kinds among the cells: each kind's
    `KindReport.headline`, in registry order. Titles carry the unit shown: times are shown in milliseconds and
    memory in MiB here, while the JSON and CSV keep the metrics' own units."""
    kinds = {kind_of(cell) for cell in cells}
    columns: list[tuple[str, str, str]] = []
    for kind in KINDS.values():
        if kind.name in kinds:
            columns += [c for c in kind.report.headline if c not in columns]
    return tuple(columns)


def kind_of(cell: dict[str, Any]) -> str:
    """The target kind of a cell of the run document."""
    return str(cell["config"].get("target.kind", DEFAULT_KIND))


def varying_keys(cells: list[dict[str, Any]]) -> list[str]:
    """Config keys whose value differs between cells, in config order."""
    if not cells:
        return []
    keys = list(cells[0]["config"])
    return [k for k in keys if len({repr(c["config"].get(k)) for c in cells}) > 1]


def format_value(metric: str, value: float | None) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if metric in METRICS:
        factor, shown = METRICS[metric].display
        return f"{value * factor:.1f}" if shown == "MiB" else f"{value * factor:.4g}"
    return f"{value:.4g}"


def summary_table(document: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the summary table of a run."""
    cells = document["cells"]
    keys = varying_keys(cells) or ["target.model", "scenario.batch_size"]
    compared = any(AGREEMENT in cell["metrics"] for cell in cells)
    scored = any(name in cell["metrics"] for cell in cells for name in HEADLINE_QUALITY)
    judged = any(cell.get("stability") for cell in cells)
    columns = headline(cells)
    header = [
        "cell",
        *keys,
        "status",
        *[title for _, _, title in columns],
        *(["quality"] if scored else []),
        *(["agree_ref"] if compared else []),
        *(["stability"] if judged else []),
    ]
    rows = []
    for cell in cells:
        row = [cell["id"], *[str(cell["config"].get(k)) for k in keys], cell["status"]]
        if cell["status"] == "ok":
            row += [format_value(m, (cell["metrics"].get(m) or {}).get(stat)) for m, stat, _ in columns]
            if scored:
                row.append(headline_quality(cell["metrics"]))
            if compared:
                agreement = (cell["metrics"].get(AGREEMENT) or {}).get("value")
                row.append("-" if agreement is None else f"{agreement:.3f}")
            if judged:
                row.append(stability_text(cell.get("stability")))
        else:
            error = cell["error"] or {}
            first_line = (error.get("message") or "").splitlines()[0] if error.get("message") else ""
            row += [f"{error.get('type', 'error')}: {first_line}"] + ["" for _ in header[len(row) + 1 :]]
        rows.append(row)
    return header, rows


def wide_rows(document: dict[str, Any]) -> tuple[list[str], list[dict[str, Any]]]:
    """One row per cell: its config keys, status, error, and `<metric>.<stat>` for every metric."""
    cells = document["cells"]
    config_keys: list[str] = []
    for cell in cells:
        config_keys += [k for k in cell["config"] if k not in config_keys]
    quality_names = sorted(
        {name for cell in cells for name, stats in cell["metrics"].items() if name not in METRICS and "value" in stats}
    )
    metric_columns = [f"{m}.{s}" for m in METRICS for s in STATISTICS] + [
        f"{name}.{part}" for name in quality_names for part in ("value", "ci95_low", "ci95_high")
    ]
    stability_columns = ["stability.flags", "stability.cv", "stability.p50_ci95_rel_width", "stability.other_cpu_share"]
    header = [
        "run_id",
        "cell_id",
        *config_keys,
        "status",
        "error_type",
        "error_message",
        *stability_columns,
        *metric_columns,
    ]
    rows = []
    for cell in cells:
        row: dict[str, Any] = {"run_id": document["run"]["id"], "cell_id": cell["id"], **cell["config"]}
        row["status"] = cell["status"]
        row["error_type"] = (cell["error"] or {}).get("type")
        row["error_message"] = (cell["error"] or {}).get("message")
        stability = cell.get("stability") or {}
        row["stability.flags"] = " ".join(stability["flags"]) if stability else None
        row["stability.cv"] = stability.get("cv")
        row["stability.p50_ci95_rel_width"] = stability.get("p50_ci95_rel_width")
        row["stability.other_cpu_share"] = (stability.get("contention") or {}).get("other_cpu_share")
        for m in METRICS:
            stats = cell["metrics"].get(m) or {}
            for s in STATISTICS:
                row[f"{m}.{s}"] = stats.get(s)
        for name in quality_names:
            stats = cell["metrics"].get(name) or {}
            low, high = stats.get("ci95") or (None, None)
            row[f"{name}.value"], row[f"{name}.ci95_low"], row[f"{name}.ci95_high"] = stats.get("value"), low, high
        rows.append(row)
    return header, rows


def markdown_cell(text: str) -> str:
    """Text as one markdown table cell that a viewer shows as text: HTML's special characters escaped
    (a model's output or a server's error can hold markup, which markdown passes through as HTML), `|`
    escaped and line breaks as spaces."""
    return html.escape(text, quote=False).replace("|", "\\|").replace("\r", " ").replace("\n", " ")
