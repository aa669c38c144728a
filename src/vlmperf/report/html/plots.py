"""Which plots a run gets: every maker is asked, and each returns only plots it has data for.

A maker takes the run's view and returns a list of plots (empty when the run lacks what it
draws), so adding a plot is adding a maker here, never a branch on the run's kind.
"""

from __future__ import annotations

from collections.abc import Callable

from vlmperf.report.html.cells import RunView
from vlmperf.report.html.figures import Plot
from vlmperf.report.html.plots_cells import cdf_plot, flops_plot, stage_plot, target_bars
from vlmperf.report.html.plots_layers import layer_plot
from vlmperf.report.html.plots_quality import quality_plots
from vlmperf.report.html.plots_roofline import roofline_plot
from vlmperf.report.html.plots_sweep import sweep_plots

PlotMaker = Callable[[RunView], list[Plot]]

PLOT_MAKERS: dict[str, PlotMaker] = {
    "sweep": sweep_plots,
    "quality": quality_plots,
    "cdf": cdf_plot,
    "targets": target_bars,
    "stages": stage_plot,
    "layers": layer_plot,
    "flops": flops_plot,
    "roofline": roofline_plot,
}
"""In page order; the key is each plot's `data-plot` attribute."""


def choose_plots(view: RunView) -> list[Plot]:
    plots = [plot for make in PLOT_MAKERS.values() for plot in make(view)]
    ids = [plot.id for plot in plots]
    duplicated = {i for i in ids if ids.count(i) > 1}
    if duplicated:
        raise ValueError(f"two plots share the id(s) {sorted(duplicated)}: give each maker's plots distinct ids")
    return plots
