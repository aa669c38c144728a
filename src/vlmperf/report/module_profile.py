"""Render the "top modules" table of one or several module profiles (terminal and markdown).

The profiles come from `vlmperf.meters.module_times` (stored in each profiled cell's info); the
rows are a class column, its instances, then self milliseconds and share per label, so a sweep's
batch sizes read side by side. Nothing here imports torch: reports of endpoint runs never load it.
"""

from __future__ import annotations

import io
from typing import Any

from rich.console import Console
from rich.table import Table


def top_module_rows(profiles: dict[str, dict[str, Any]], top: int = 10) -> list[dict[str, Any]]:
    """The "top modules" table over one or several profiles keyed by label ("batch 1", "batch 4").

    One row per layer class, ordered by the first label's self time, with `instances` (the most
    that ran under any label: a sweep profiles one model, so they agree) and, per
    label, `self_ms` (self time in milliseconds, None where the class did not run) and `share` (of
    that label's call). Classes past `top` are folded into one "other (N classes)" row, so each
    label's shares still add up to 1.
    """
    if not profiles:
        raise ValueError("top_module_rows needs at least one profile, keyed by a label such as 'batch 1'")
    labels = list(profiles)
    tables = {label: {entry["class"]: entry for entry in profiles[label]["classes"]} for label in labels}
    order: list[str] = []
    for label in labels:  # the first label's order, then classes only later labels have
        order += [name for name in tables[label] if name not in order]
    rows = [_row(name, [name], labels, tables, profiles) for name in order[:top]]
    if len(order) > top:
        rest = order[top:]
        rows.append(_row(f"other ({len(rest)} classes)", rest, labels, tables, profiles))
    return rows


def _row(
    title: str, names: list[str], labels: list[str], tables: dict[str, dict[str, Any]], profiles: dict[str, Any]
) -> dict[str, Any]:
    """One table row: the classes `names` summed, per label."""
    row: dict[str, Any] = {
        "class": title,
        "instances": sum(max(tables[label].get(n, {}).get("instances", 0) for label in labels) for n in names),
        "self_ms": {},
        "share": {},
    }
    for label in labels:
        present = [tables[label][n] for n in names if n in tables[label]]
        self_s = sum(entry["self_s"] for entry in present) if present else None
        total = profiles[label]["total_s"]
        row["self_ms"][label] = None if self_s is None else self_s * 1e3
        row["share"][label] = None if self_s is None or total <= 0 else self_s / total
    return row


def _header(labels: list[str]) -> list[str]:
    columns = ["class", "instances"]
    for label in labels:
        columns += [f"{label} self ms", f"{label} share"]
    return columns


def _cells(row: dict[str, Any], labels: list[str]) -> list[str]:
    cells = [row["class"], str(row["instances"])]
    for label in labels:
        ms, share = row["self_ms"][label], row["share"][label]
        cells += ["-" if ms is None else f"{ms:.3f}", "-" if share is None else f"{share:.1%}"]
    return cells


def _title(profiles: dict[str, dict[str, Any]]) -> str:
    totals = ", ".join(f"{label} {p['total_s'] * 1e3:.1f} ms" for label, p in profiles.items())
    return f"top modules by self time (profiling pass, hooks on every module: {totals})"


def module_profile_table(profiles: dict[str, dict[str, Any]], top: int = 10) -> Table:
    """A rich Table of the top layer classes by self time, one pair of columns per label."""
    labels = list(profiles)
    table = Table(title=_title(profiles), title_justify="left")
    for column in _header(labels):
        table.add_column(column, justify="left" if column == "class" else "right")
    for row in top_module_rows(profiles, top):
        table.add_row(*_cells(row, labels))
    return table


def render_module_profile(profiles: dict[str, dict[str, Any]], top: int = 10) -> str:
    """The table as plain text (no colour codes), for logs and tests."""
    console = Console(file=io.StringIO(), width=200, record=True, color_system=None)
    console.print(module_profile_table(profiles, top))
    return console.export_text()


def render_module_profile_markdown(profiles: dict[str, dict[str, Any]], top: int = 10) -> str:
    """The table as a markdown section."""
    labels = list(profiles)
    header = _header(labels)
    lines = [f"#### {_title(profiles)}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in top_module_rows(profiles, top):
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in _cells(row, labels)) + " |")
    return "\n".join(lines) + "\n"


def run_profiles(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The module profiles of a run's profiled cells, labelled by what differs between the cells
    (e.g. "scenario.batch_size=4"), in cell order."""
    from vlmperf.report.tables import varying_keys

    cells = [c for c in document["cells"] if ((c.get("info") or {}).get("profile") or {}).get("modules")]
    keys = varying_keys(cells)
    return {
        (", ".join(f"{k}={c['config'].get(k)}" for k in keys) or c["id"]): c["info"]["profile"]["modules"]
        for c in cells
    }
