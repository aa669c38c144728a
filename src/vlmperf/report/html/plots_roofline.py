"""Each local cell against its device's limit: a roofline, achieved FLOP/s over arithmetic intensity.

Log-log, x = `arithmetic_intensity_flop_per_byte` p50 (FLOP per byte moved), y = `flops_per_s` p50 (achieved),
one point per local cell. Each distinct device (its pair of peaks, `info.limits`) gets its roof,
y = min(peak FLOP/s, peak bandwidth × x), and the ridge point where the two meet: left of the
ridge a call is bandwidth-bound, right of it compute-bound, and the gap to the roof is what
`limit_ratio` counts. A cell whose peaks are unknown (a CPU without `target.peak_*`) is drawn
without a roof, and the plot's note says why, from `info.limits.missing`: no roof is guessed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from vlmperf.backends.registry import KINDS
from vlmperf.report.html.cells import CellView, RunView
from vlmperf.report.html.escape import plot_text
from vlmperf.report.html.figures import Plot, axis, axis_title, color, figure, round_sig, si

X, Y = "arithmetic_intensity_flop_per_byte", "flops_per_s"
ROOF_COLOR = "#444"
ROOF_DASHES = ("solid", "dash", "dot", "dashdot")
"""One line style per device, so two devices' roofs stay apart in grey."""
ROOF_MARGIN = 4.0
"""How far (a factor) the roof runs beyond the outermost point or ridge on either side."""


@dataclass
class Roof:
    """One device's peaks (either may be unknown) and the cells measured on it."""

    peak_flops: float | None
    peak_bandwidth: float | None
    cells: list[CellView] = field(default_factory=list)

    @property
    def ridge(self) -> float | None:
        """The intensity (FLOP/B) where bandwidth stops being the limit: peak FLOP/s / peak B/s."""
        if not self.peak_flops or not self.peak_bandwidth:
            return None
        return self.peak_flops / self.peak_bandwidth

    def height(self, intensity: float) -> float:
        """The most FLOP/s the device allows at this intensity: the lower of its known roofs."""
        limits = [p for p in (self.peak_flops, self.peak_bandwidth and self.peak_bandwidth * intensity) if p]
        return min(limits)


def _limits(cell: CellView) -> dict[str, Any]:
    return cell.info.get("limits") or {}


def _roof_key(cell: CellView) -> tuple[float | None, float | None]:
    """The cell's device as its pair of peaks (FLOP/s, B/s); cells with the same pair share a roof."""
    limits = _limits(cell)
    return limits.get("peak_flops_per_s"), limits.get("peak_memory_bandwidth_bytes_per_s")


def _drawn(view: RunView) -> list[CellView]:
    """The local cells that have both coordinates (endpoints and runs without FLOPs have none)."""
    return [c for c in view.ok if _placed(c) and c.stat(X, "p50") and c.stat(Y, "p50")]


def _placed(cell: CellView) -> bool:
    """A cell of a kind whose cells have a place on a roofline (`KindReport.roofline`: local models)."""
    kind = KINDS.get(cell.kind)
    return kind is not None and kind.report.roofline


def _point(cell: CellView) -> tuple[float, float]:
    """A drawn cell's coordinates: its intensity and achieved FLOP/s p50s (`_drawn` keeps cells with both)."""
    x, y = cell.stat(X, "p50"), cell.stat(Y, "p50")
    assert x is not None and y is not None, f"cell {cell.id} has no roofline point"
    return x, y


def _roofs(cells: list[CellView]) -> list[Roof]:
    """One roof per distinct pair of peaks among the cells that know at least one of them."""
    roofs: dict[tuple[float | None, float | None], Roof] = {}
    for cell in cells:
        key = _roof_key(cell)
        if any(key):
            roofs.setdefault(key, Roof(*key)).cells.append(cell)
    return list(roofs.values())


def missing_roofs(cells: list[CellView]) -> str:
    """One line: why some cells' roofs are missing or partial, each distinct reason once."""
    short = [c for c in cells if not all(_roof_key(c))]
    if not short:
        return ""
    reasons = list(dict.fromkeys(r for c in short for r in _limits(c).get("missing") or []))
    why = "; ".join(reasons) if reasons else "this run recorded no device peaks (a run from before vlmperf knew them)"
    return f"No full roof for {len(short)} of {len(cells)} cell(s): {why}."


def left_out(view: RunView, drawn: list[CellView]) -> str:
    """One line: the local cells with no point (no byte count for their model), and why."""
    ids = {c.id for c in drawn}
    missed = [c for c in view.ok if _placed(c) and c.id not in ids]
    if not missed:
        return ""
    why = (str(_limits(c).get("why_no_memory_traffic") or "no FLOP or byte count") for c in missed)
    reasons = list(dict.fromkeys(why))
    return f"{len(missed)} local cell(s) not drawn: {'; '.join(reasons)}."


def _fmt(value: float | None, pattern: str) -> str:
    return "-" if value is None else pattern.format(value)


def _ratio(value: float | None) -> str:
    """A limit ratio in plain digits: a loaded CPU can be thousands of times off its roof (2680x, not 2.68e+03x)."""
    return _fmt(value, "{:.3g}x" if value is None or value < 1000 else "{:.0f}x")


def _device(cells: list[CellView]) -> str:
    """The device names of a roof's cells (the GPU's name where known, else the target's device)."""
    names = [str(c.info.get("device_name") or c.config.get("target.device") or "device") for c in cells]
    return ", ".join(dict.fromkeys(names))


def _cell_trace(index: int, cell: CellView) -> dict[str, Any]:
    """The cell's point; its hover says how far from its limit it is (limit_ratio, mfu, mbu)."""
    name = plot_text(cell.label)
    x, y = _point(cell)
    hover = (
        f"{name}<br>%{{x:.3g}} FLOP/B, %{{y:.3s}}FLOP/s"
        f"<br>limit_ratio {_ratio(cell.stat('limit_ratio', 'p50'))}"
        f"<br>mfu {_fmt(cell.stat('mfu', 'p50'), '{:.2%}')}, mbu {_fmt(cell.stat('mbu', 'p50'), '{:.2%}')}"
        "<extra></extra>"
    )
    return {
        "type": "scatter",
        "mode": "markers",
        "name": name,
        "marker": {"color": color(index), "size": 10},
        "x": [round_sig(x)],
        "y": [round_sig(y)],
        "hovertemplate": hover,
    }


def _roof_traces(index: int, roof: Roof, low: float, high: float) -> list[dict[str, Any]]:
    """The roof as a line over [low, high] (bent at the ridge), and the ridge as a marker."""
    xs = sorted({low, high, *([roof.ridge] if roof.ridge else [])})
    peaks = f"{si(roof.peak_flops, 'FLOP/s')}, {si(roof.peak_bandwidth, 'B/s')}"
    name = plot_text(f"roof of {_device(roof.cells)}: {peaks}")
    line = {"color": ROOF_COLOR, "width": 1.5, "dash": ROOF_DASHES[index % len(ROOF_DASHES)]}
    traces: list[dict[str, Any]] = [
        {
            "type": "scatter",
            "mode": "lines",
            "name": name,
            "legendgroup": f"roof{index}",
            "line": line,
            "x": [round_sig(x) for x in xs],
            "y": [round_sig(roof.height(x)) for x in xs],
            "hovertemplate": f"{name}<br>%{{x:.3g}} FLOP/B: at most %{{y:.3s}}FLOP/s<extra></extra>",
        }
    ]
    if roof.ridge and roof.peak_flops:  # a ridge needs both peaks
        traces.append(
            {
                "type": "scatter",
                "mode": "markers",
                "name": f"{name} ridge",
                "legendgroup": f"roof{index}",
                "showlegend": False,
                "marker": {"color": ROOF_COLOR, "symbol": "diamond-open", "size": 11},
                "x": [round_sig(roof.ridge)],
                "y": [round_sig(roof.peak_flops)],
                "hovertemplate": (
                    "ridge at %{x:.3g} FLOP/B: bandwidth-bound left of it, compute-bound right<extra></extra>"
                ),
            }
        )
    return traces


def _span(cells: list[CellView], roofs: list[Roof]) -> tuple[float, float]:
    """The x range the roofs cover: every point and every ridge, with a margin on both sides."""
    xs = [_point(c)[0] for c in cells] + [r.ridge for r in roofs if r.ridge]
    return min(xs) / ROOF_MARGIN, max(xs) * ROOF_MARGIN


def _log_axis(title: str, metric: str, data: list[dict[str, Any]], key: str) -> dict[str, Any]:
    """A log axis; labelled once a decade when it spans more than one, since labelling every minor
    tick of several decades with SI prefixes overprints them (FLOP/s as 10G, not 10.0G)."""
    values = [v for trace in data for v in trace[key] if v]
    decades = {"dtick": 1} if max(values) > 10 * min(values) else {}
    trimmed = {"tickformat": ".3~s"} if metric == Y else {}
    return axis(title, metric, type="log", **decades, **trimmed)


def roofline_plot(view: RunView) -> list[Plot]:
    cells = _drawn(view)
    if not cells:
        return []
    roofs = _roofs(cells)
    low, high = _span(cells, roofs)
    data = [t for i, roof in enumerate(roofs) for t in _roof_traces(i, roof, low, high)]
    data += [_cell_trace(i, cell) for i, cell in enumerate(cells)]
    return [
        Plot(
            kind="roofline",
            id="plot-roofline",
            title="each cell against its device's limit (roofline)",
            caption="p50 per cell; the roof is the most FLOP/s the device allows at that intensity "
            "(min of peak FLOP/s and peak bandwidth × intensity), the diamond its ridge",
            figure=figure(
                data,
                _log_axis(axis_title(X, "p50"), X, data, "x"),
                _log_axis(axis_title(Y, "p50"), Y, data, "y"),
            ),
            attrs={"roofs": str(len(roofs))},
            note=" ".join(filter(None, (missing_roofs(cells), left_out(view, cells)))),
        )
    ]
