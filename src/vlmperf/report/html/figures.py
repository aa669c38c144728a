"""Plotly figure specs as plain dicts: the page's one look, units, colours and the `Plot` type.

Figures are built as the JSON plotly.js reads (`{"data": [...], "layout": {...}}`), not as
`plotly.graph_objects` figures: validating objects costs time per trace and the page only needs
the JSON. The tests validate every figure against plotly's schema instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, overload

from vlmperf.metrics.definitions import METRICS, SI_UNITS
from vlmperf.report.html.escape import plot_text

PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)
FLAT_SPREAD = 1e-9
"""y values this close (relative to their size) are one value: a plot of them would only repeat a tick label."""
HEIGHT, LEGEND_ROW, MAX_HEIGHT = 380, 19, 900
WIDE_LEGEND, WIDE_CATEGORIES = 8, 12


@dataclass
class Plot:
    """One plot of the page: `kind` (the `data-plot` attribute), a unique `id`, its figure, and a note
    when part of it is missing."""

    kind: str
    id: str
    title: str
    caption: str
    figure: dict[str, Any]
    attrs: dict[str, str] = field(default_factory=dict)
    note: str = ""
    """One line under the caption saying what the plot could not draw and why (empty: nothing)."""
    flat: str = ""
    """The line said instead of the figure when all its y values are one value (empty: it is drawn)."""

    @property
    def traces(self) -> int:
        return len(self.figure["data"])

    @property
    def wide(self) -> bool:
        """Whether the plot needs the page's full width: a long legend or many categories on x."""
        categories = max((len(t.get("x") or []) for t in self.figure["data"] if t.get("type") == "bar"), default=0)
        return legend_entries(self.figure["data"]) > WIDE_LEGEND or categories > WIDE_CATEGORIES


def color(index: int, alpha: float | None = None) -> str:
    hex_color = PALETTE[index % len(PALETTE)]
    if alpha is None:
        return hex_color
    r, g, b = (int(hex_color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def unit_of(metric: str) -> str:
    known = METRICS.get(metric)
    return known.unit if known else ""


def scale(metric: str) -> tuple[float, str]:
    """(factor, unit shown) for a metric, as the registry shows it (`Metric.display`); unknown: as it is."""
    known = METRICS.get(metric)
    return known.display if known else (1.0, "")


@overload
def scaled(metric: str, value: float) -> float: ...
@overload
def scaled(metric: str, value: None) -> None: ...
def scaled(metric: str, value: float | None) -> float | None:
    return None if value is None else round_sig(value * scale(metric)[0])


def round_sig(value: float, digits: int = 5) -> float:
    """A float rounded to `digits` significant digits, so the embedded JSON stays short."""
    return float(f"{value:.{digits}g}")


def si(value: float | None, unit: str) -> str:
    """A figure with an SI prefix (1.2e14 FLOP/s -> 120 TFLOP/s), for labels, hovers and notes."""
    if value is None:
        return "-"
    for factor, prefix in ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:.3g} {prefix}{unit}"
    return f"{value:.3g} {unit}"


def shown_value(metric: str, value: float) -> str:
    """An axis value (already scaled) as text with the unit its axis shows."""
    unit = scale(metric)[1]
    return si(value, unit) if unit in SI_UNITS else f"{value:.4g} {unit}".strip()


def axis_title(metric: str, statistic: str = "") -> str:
    shown = scale(metric)[1]
    name = f"{metric} {statistic}".strip()
    return f"{name} ({shown})" if shown else name


def axis(title: str, metric: str = "", **extra: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {"title": {"text": plot_text(title)}, "automargin": True, "zeroline": False}
    if unit_of(metric) in SI_UNITS:
        spec["tickformat"] = ".3s"
    return {**spec, **{k: v for k, v in extra.items() if v is not None}}


def legend_entries(data: list[dict[str, Any]]) -> int:
    return sum(1 for trace in data if trace.get("showlegend", True))


def figure(data: list[dict[str, Any]], x: dict[str, Any], y: dict[str, Any], **layout: Any) -> dict[str, Any]:
    """A figure with the page's layout: white background, hover on the nearest point, the legend on
    the right (plotly keeps room for it there, where one below would cover the x axis title), and
    taller when the legend is long."""
    base = {
        "xaxis": x,
        "yaxis": y,
        "height": min(MAX_HEIGHT, max(HEIGHT, 80 + LEGEND_ROW * legend_entries(data))),
        "margin": {"l": 60, "r": 20, "t": 20, "b": 50},
        "showlegend": legend_entries(data) > 1,
        "hovermode": "closest",
        "plot_bgcolor": "#fff",
        "paper_bgcolor": "#fff",
    }
    return {"data": data, "layout": {**base, **layout}}


def slug(*parts: str) -> str:
    """An id-safe name: letters, digits and dashes."""
    joined = "-".join(parts)
    return "".join(ch if ch.isalnum() else "-" for ch in joined).strip("-").lower()


def _y_extent(trace: dict[str, Any]) -> list[float]:
    """The y values a trace puts on its axis: each point, and the ends of its error bars."""
    bars = trace.get("error_y") or {}
    up = bars.get("array") or []
    down = bars.get("arrayminus") or up
    values = []
    for i, y in enumerate(trace.get("y") or []):
        if y is not None:
            values += [y, y + (up[i] if i < len(up) else 0), y - (down[i] if i < len(down) else 0)]
    return values


def flat_value(data: list[dict[str, Any]]) -> float | None:
    """The one value every trace shows, error bars included, when all agree within FLAT_SPREAD of their
    size; None when they differ or there are fewer than two points. Plotly pads such an axis around
    the value and labels each tick with it (`10.1M` five times): it reads as a measurement but says nothing."""
    if sum(y is not None for trace in data for y in trace.get("y") or []) < 2:
        return None
    values = [v for trace in data for v in _y_extent(trace)]
    low, high = min(values), max(values)
    return low if high - low <= FLAT_SPREAD * max(abs(low), abs(high)) else None


def unless_flat(plot: Plot, subject: str, where: str, metric: str) -> Plot:
    """The plot, marked to be said in one line instead (`flops p50 is 10.1 MFLOP at every batch_size`)
    when its y values are one value. Every plot of metrics against cells or a swept axis goes
    through here; plots whose y is not a metric (a CDF's share) do not."""
    value = flat_value(plot.figure["data"])
    if value is not None:
        plot.flat = f"{subject} is {shown_value(metric, value)} {where}"
    return plot
