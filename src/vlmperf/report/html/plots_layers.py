"""Per-layer-class self time from the cells' module profiles (`vlmperf profile`, `measure.profile`).

The rows are the same as the terminal's "top modules" table (`report.module_profile`): the ten
classes with the most self time, the rest folded into one row, one bar per profiled cell.
"""

from __future__ import annotations

from vlmperf.report.html.cells import RunView
from vlmperf.report.html.escape import plot_text
from vlmperf.report.html.figures import Plot, axis, color, figure, round_sig
from vlmperf.report.module_profile import run_profiles, top_module_rows


def layer_plot(view: RunView) -> list[Plot]:
    profiles = run_profiles(view.document)
    if not profiles:
        return []
    rows = top_module_rows(profiles)
    classes = [plot_text(row["class"]) for row in rows]
    data = [
        {
            "type": "bar",
            "name": plot_text(label),
            "x": classes,
            "marker": {"color": color(i)},
            "y": [None if row["self_ms"][label] is None else round_sig(row["self_ms"][label]) for row in rows],
        }
        for i, label in enumerate(profiles)
    ]
    return [
        Plot(
            kind="layers",
            id="plot-layers",
            title="self time per layer class (profiling pass)",
            caption="a pass of its own with hooks on every module: they slow the call, so read the split, "
            "not the absolute ms",
            figure=figure(data, axis("layer class", type="category"), axis("self time (ms)"), barmode="group"),
        )
    ]
