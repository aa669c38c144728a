"""The pages (a run's, a comparison's): one self-contained HTML file each, plotly.js and the figures
embedded, no network needed. Both share `html_page`, the skeleton.

plotly.js is embedded once, from the installed plotly package (`report` extra), so the file
opens offline and in ten years. Figures travel as one JSON document in a
`<script type="application/json">` element that a small script hands to plotly.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import cache
from importlib.resources import files

from vlmperf.errors import InputError
from vlmperf.report.html import sections
from vlmperf.report.html.cells import RunView
from vlmperf.report.html.escape import script_json, text
from vlmperf.report.html.figures import Plot
from vlmperf.report.html.table import summary_table_html


@cache
def plotly_js() -> str:
    """The plotly.js bundle of the installed plotly package."""
    try:
        from plotly.offline import get_plotlyjs
    except ImportError as exc:
        raise InputError("the HTML report needs plotly: pip install 'vlmperf[report]'") from exc
    bundle = get_plotlyjs()
    if "</script" in bundle.lower():
        raise InputError("this plotly version's plotly.js cannot be embedded inline: install plotly==7.1.0")
    return bundle


def _static(name: str) -> str:
    return files("vlmperf.report.html").joinpath("static", name).read_text(encoding="utf-8")


def html_page(title: str, body: Iterable[str], plots: Sequence[Plot] = ()) -> str:
    """The skeleton every page shares: head and style, the body's sections, then the figures of
    `plots` as one JSON element (a flat plot's figure is not drawn, so not sent), plotly.js and the
    script that draws the plots and sorts tables."""
    figures = script_json({plot.id: plot.figure for plot in plots if not plot.flat})
    return "".join(
        [
            '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{text(title)}</title><style>{_static('report.css')}</style></head><body>",
            *body,
            f'<script type="application/json" id="vlmperf-figures">{figures}</script>',
            f"<script>{plotly_js()}</script>",
            f"<script>{_static('report.js')}</script>",
            "</body></html>\n",
        ]
    )


def plots_section(plots: Sequence[Plot], title: str = "Plots", section_id: str = "plots") -> str:
    """The plots in a grid under one heading, the flat ones first as one line each; nothing when
    there are none."""
    if not plots:
        return ""
    blocks = "".join(sections.plot_block(p) for p in plots if not p.flat)
    return (
        f'<section id="{text(section_id)}"><h2>{text(title)}</h2>{sections.flat_plots(plots)}'
        f'<div class="plots">{blocks}</div></section>'
    )


def page(view: RunView, plots: list[Plot]) -> str:
    """The page of a run."""
    return html_page(
        f"vlmperf run {view.document['run']['id']}",
        [
            sections.header(view),
            sections.notes(view),
            sections.manifest(view),
            (
                '<section id="cells"><h2>Cells</h2><p class="caption">Click a column to sort. '
                "Times in ms, memory in MiB.</p>"
            ),
            f'<div class="table-wrap">{summary_table_html(view.document)}</div></section>',
            sections.failures(view),
            plots_section(plots),
            sections.outputs(view),
        ],
        plots,
    )
