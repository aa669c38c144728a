"""The run's time budget (`report.time_budget`) as one stacked bar under the page's title.

A sweep's time should go to measuring: the bar shows at a glance how much went to load, warm-up
and the timed windows, and how much to vlmperf's own passes and bookkeeping. It is plain HTML
(a div per phase, its width the phase's share), lighter than a plotly figure; each segment's title
gives its seconds and share, and the caption the total and the share outside measuring.
"""

from __future__ import annotations

from typing import Any

from vlmperf.report.html.escape import text
from vlmperf.report.time_budget import time_budget

PHASE_COLORS = {
    "load": "#9ecae1",
    "warm_up": "#c6dbef",
    "timed": "#74c476",
    "flop_pass": "#fdae6b",
    "stage_pass": "#fdd0a2",
    "profile": "#fcbba1",
    "idle_power": "#dadaeb",
    "scoring": "#bcbddc",
    "harness": "#d9d9d9",
    "report": "#eeeeee",
}
"""Measuring in blue and green, the secondary passes in warm colours and purple, the harness grey."""
OTHER_COLOR = "#e0e0e0"
"""A phase this page does not know yet (a newer runner's pass)."""
LABELLED_SHARE = 0.08
"""Segments at least this share of the bar are labelled inside; narrower ones by their title and the key."""


def _seconds(value: float) -> str:
    """Seconds as HTML text: two decimals, none from 100 s up, and `<0.01 s` for what rounds to nothing."""
    return text("<0.01 s" if value < 0.005 else f"{value:.2f} s" if value < 100 else f"{value:.0f} s")


def _segment(name: str, seconds: float, total: float) -> str:
    share = seconds / total
    label = f"{text(name)} {share:.0%}" if share >= LABELLED_SHARE else ""
    return (
        f'<div class="segment" data-phase="{text(name)}" data-share="{share:.6f}" '
        f'title="{text(name)}: {_seconds(seconds)} ({share:.1%})" '
        f'style="width: {share * 100:.4f}%; background: {PHASE_COLORS.get(name, OTHER_COLOR)}">{label}</div>'
    )


def _legend(phases: dict[str, float]) -> str:
    """Each phase's colour, name and seconds: the narrow segments are read here."""
    return "".join(
        f'<span class="key"><i style="background: {PHASE_COLORS.get(name, OTHER_COLOR)}"></i>'
        f"{text(name)} {_seconds(seconds)}</span>"
        for name, seconds in phases.items()
    )


def budget_bar(document: dict[str, Any]) -> str:
    """The bar and its caption; nothing for a run stored before time budgets were kept, or one that
    took no time. Phases that took 0 s are left out."""
    budget = time_budget(document)
    if budget is None or not budget["total_s"]:
        return ""
    total = budget["total_s"]
    phases = {name: seconds for name, seconds in budget["phases"].items() if seconds > 0}
    segments = "".join(_segment(name, seconds, total) for name, seconds in phases.items())
    outside = f"{budget['outside_share']:.0%} of it outside load, warm-up and the timed windows"
    return (
        f'<div id="time-budget"><div class="budget-bar">{segments}</div>'
        f'<p class="caption">Run time {_seconds(total)}, {outside}.</p><p class="keys">{_legend(phases)}</p></div>'
    )
