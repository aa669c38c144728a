"""How a comparison (`report.compare.compare_runs`) is shown: the terminal table, the lines about
cells that were not compared, and the words and states the HTML page shares with them.

A row's state says how it is highlighted: `regression` (significantly worse and, with
`--fail-on-regression PCT`, past PCT: what fails the gate), `worse` (significantly worse but within
PCT), `better` (significantly better), `same` (no significant change, or a change of a count that
is neither better nor worse).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from vlmperf.metrics.definitions import METRICS
from vlmperf.report.compare import regressions
from vlmperf.report.tables import format_value

COLUMNS = ("metric", "A", "B", "delta %", "95% CI %", "p", "verdict")
"""The columns of a comparison after the keys that tell its cells apart (`row_keys`)."""
STATES = ("regression", "worse", "better", "same")


def row_keys(comparison: dict[str, Any]) -> list[str]:
    """The config keys that tell the compared cells apart, or `cell_a` when one pair was compared."""
    return comparison["keys"] or ["cell_a"]


def row_texts(row: dict[str, Any], keys: Sequence[str]) -> list[str]:
    """A row as the terminal table and the HTML page show it: its keys, then `COLUMNS` (times in ms)."""
    factor, shown = METRICS[row["metric"]].display
    unit = f" {shown}" if factor != 1 else ""  # scaled figures name their unit (ms, MiB)
    low_high = row["ci95_delta_pct"]
    return [
        *[str(row["config"].get(k, row.get(k))) for k in keys],
        row["metric"],
        format_value(row["metric"], row["a"]) + unit,
        format_value(row["metric"], row["b"]) + unit,
        "-" if row["delta_pct"] is None else f"{row['delta_pct']:+.1f}",
        "-" if low_high is None else f"[{low_high[0]:+.1f}, {low_high[1]:+.1f}]",
        "-" if row["p_value"] is None else f"{row['p_value']:.2g}",
        row["verdict"] + (" (unstable, judged as asked)" if row.get("unstable") and row.get("judged") else ""),
    ]


def row_states(comparison: dict[str, Any], threshold_pct: float | None) -> list[str]:
    """Each row's state (see the module docstring), in row order."""
    past = {id(row) for row in regressions(comparison, threshold_pct or 0.0)}
    states = []
    for row in comparison["rows"]:
        if row["worse"]:
            states.append("regression" if threshold_pct is None or id(row) in past else "worse")
        else:
            states.append("better" if row["significant"] and row["direction"] is not None else "same")
    return states


def comparison_table(comparison: dict[str, Any]) -> Table:
    """The terminal table: the keys that tell cells apart, A, B, the change with its interval, p, verdict."""
    title = f"run {comparison['b']['run_id']} (B) against {comparison['a']['run_id']} (A), {comparison['stat']}"
    table = Table(title=escape(title), title_justify="left")
    keys = row_keys(comparison)
    for column in (*keys, *COLUMNS):
        table.add_column(escape(column), justify="left" if column in (*keys, "metric", "verdict") else "right")
    for row in comparison["rows"]:
        *cells, verdict = (escape(value) for value in row_texts(row, keys))
        table.add_row(*cells, f"[red]{verdict}[/red]" if row["worse"] else verdict)
    return table


def table_text(comparison: dict[str, Any], width: int = 200) -> str:
    """The terminal table as plain text (for `-o FILE`)."""
    console = Console(file=io.StringIO(), width=width, record=True, color_system=None)
    console.print(comparison_table(comparison))
    return console.export_text()


def differs_text(differs: dict[str, dict[str, Any]]) -> str:
    """How an unmatched cell differs from its closest cell in the other run, key by key."""
    return "; ".join(f"{k}: {v['a']!r} in A, {v['b']!r} in B" for k, v in differs.items())


def unmatched_lines(comparison: dict[str, Any]) -> list[str]:
    """One line per cell without a partner: how it differs from the closest cell of the other run."""
    lines = []
    for side, other in (("a", "B"), ("b", "A")):
        for entry in comparison[f"unmatched_{side}"]:
            differs = differs_text(entry["differs"])
            lines.append(
                f"cell {entry['cell']} of run {side.upper()} has no partner in run {other}"
                + (f" (closest differs in {differs})" if differs else "")
            )
    return lines


def unjudged_lines(comparison: dict[str, Any]) -> list[str]:
    """One line per pair of cells whose change was not judged because a cell of it is flagged unstable."""
    seen: dict[str, str] = {}
    for row in comparison["rows"]:
        if not row.get("judged", True):
            seen.setdefault(row["cell_a"], row["verdict"])
    return [f"cell {cell}: {verdict}" for cell, verdict in seen.items()]


def skipped_lines(comparison: dict[str, Any]) -> list[str]:
    """One line per matched pair (or pair and metric) that could not be compared, and why."""
    return [f"cell {s['cell_a']}: {s['why']}" for s in comparison["skipped"]]
