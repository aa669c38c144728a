"""The page's text sections: the run's header and notes, manifest, failed cells, sample outputs
beside their references.

Every value written here (config values, error messages, sample ids, model outputs) passes
through `escape.text`: none of it is trusted.
"""

from __future__ import annotations

from typing import Any

import orjson

from vlmperf.report.html.budget import budget_bar
from vlmperf.report.html.cells import CellView, RunView
from vlmperf.report.html.escape import clipped, text
from vlmperf.report.html.records import SAMPLES_SHOWN, CellRecords
from vlmperf.report.html.references import reference_cell, references_note
from vlmperf.report.tables import stability_lines

OUTPUT_CHARS = 2000
"""Longest output shown; a longer one is cut with a note of how much was left out."""


def header(view: RunView) -> str:
    """The run's title, its status line and where its time went."""
    run = view.document["run"]
    failed = sum(c.status == "failed" for c in view.cells)
    meta = (
        f"status <b>{text(run['status'])}</b> · created {text(run['created'])} · "
        f"{len(view.cells)} finished cell(s), {failed} failed"
    )
    return (
        f'<header><h1>vlmperf run {text(run["id"])} ({text(run["name"])})</h1><p class="meta">{meta}</p>'
        f"{budget_bar(view.document)}</header>"
    )


def notes(view: RunView) -> str:
    run = view.document["run"]
    lines = []
    if run.get("unfinished_cells"):
        lines.append(
            f"This run is {text(run['status'])}: {len(run['unfinished_cells'])} cell(s) were not measured "
            "and are not shown. `vlmperf run --resume` measures them."
        )
    if not view.records_read:
        lines.append(
            "The run's records were not read, so latency distributions and sample outputs are missing: "
            "build the page with its results store (`vlmperf.report.html.render_run(run_id, out)`, or "
            "`render_html(document, records=store)`)."
        )
    return "".join(f'<p class="note">{line}</p>' for line in lines) + stability_note(view.document)


def stability_note(document: dict[str, Any]) -> str:
    """The cells whose figures are not to be trusted as they stand, each flag with why (`metrics.stability`)."""
    flagged = stability_lines(document)
    if not flagged:
        return ""
    items = "".join(f"<li>{text(line)}</li>" for line in flagged)
    return (
        '<div class="note" id="stability"><b>Figures to measure again</b> (the table\'s stability column: '
        f"cv is the main latency's coefficient of variation)<ul>{items}</ul></div>"
    )


def manifest(view: RunView) -> str:
    dumped = orjson.dumps(view.document["run"]["manifest"], option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode()
    return (
        '<details id="manifest"><summary>Manifest (versions, hardware, config)</summary>'
        f"<pre>{text(dumped)}</pre></details>"
    )


def failures(view: RunView) -> str:
    failed = [c for c in view.cells if c.status == "failed"]
    if not failed:
        return ""
    items = []
    for cell in failed:
        error = cell.error or {}
        trace = error.get("traceback")
        items.append(
            f'<div class="failure" data-cell="{text(cell.id)}"><h3>{text(cell.label)} '
            f'<span class="meta">(cell {text(cell.id)})</span></h3>'
            f'<pre class="error">{text(error.get("type", "error"))}: {text(error.get("message"))}</pre>'
            + (f"<details><summary>traceback</summary><pre>{text(trace)}</pre></details>" if trace else "")
            + "</div>"
        )
    return '<section id="failures"><h2>Failed cells</h2>' + "".join(items) + "</section>"


def _output_cell(output: str | None, error_class: str | None) -> str:
    if output is None:
        return f'<td class="output missing">no output{text(f" ({error_class})" if error_class else "")}</td>'
    return f'<td class="output">{clipped(output, OUTPUT_CHARS)}</td>'


def _outputs_block(cell: CellView, records: CellRecords) -> str:
    """One cell's first outputs (from its reduced `records`), each beside its sample's references when the
    cell has them."""
    shown = cell.references is not None
    rows = "".join(
        f'<tr><td class="sample">{text(sample_id)}</td>{_output_cell(output, error_class)}'
        + (reference_cell(cell.references.get(sample_id)) if cell.references is not None else "")
        + "</tr>"
        for sample_id, output, error_class in records.samples
    )
    head = "<th>sample</th><th>output</th>" + ("<th>reference</th>" if shown else "")
    note = references_note(cell.references_error) if cell.references_error else ""
    return (
        f'<div class="outputs-cell" data-cell="{text(cell.id)}"><h3>{text(cell.label)}</h3>{note}'
        f'<table class="outputs"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table></div>'
    )


def outputs(view: RunView) -> str:
    cells = [(c, c.records) for c in view.cells if c.records is not None and c.records.samples]
    if not cells:
        return ""
    first = f"The first {SAMPLES_SHOWN} samples each cell answered, as the model wrote them"
    intro = (
        f"{first}, beside the references of the same samples. Runs store outputs, not references: these "
        "come from each cell's workload, loaded again from its stored config; `vlmperf score --run` "
        "scores the outputs against them."
        if view.references_read
        else f"{first}. References are not stored with a run: a page built by `render_run` loads them again "
        "from each cell's workload and shows them here; `vlmperf score --run` scores the outputs against them."
    )
    blocks = "".join(_outputs_block(cell, records) for cell, records in cells)
    return (
        f'<section id="outputs"><h2>Model outputs</h2><p class="caption">{intro}</p>'
        f'<div class="outputs-grid">{blocks}</div></section>'
    )


def plot_block(plot: Any) -> str:
    """A plot's box: title, caption, the note of what it could not draw (if any), and its div."""
    attrs = "".join(f' data-{text(k)}="{text(v)}"' for k, v in plot.attrs.items())
    note = f'<p class="note plot-note">{text(plot.note)}</p>' if plot.note else ""
    return (
        f'<section class="plot-box{" wide" if plot.wide else ""}"><h3>{text(plot.title)}</h3>'
        f'<p class="caption">{text(plot.caption)}</p>'
        f'{note}<div class="plot" id="{text(plot.id)}" data-plot="{text(plot.kind)}" '
        f'data-traces="{plot.traces}"{attrs}></div>'
        "</section>"
    )


def flat_plots(plots: Any) -> str:
    """The plots whose values are one value, each as its line (a figure of them would be a flat line
    under an axis that repeats one label); nothing when none is flat."""
    items = "".join(
        f'<li data-plot="{text(p.kind)}" id="{text(p.id)}"'
        + "".join(f' data-{text(k)}="{text(v)}"' for k, v in p.attrs.items())
        + f">{text(p.flat)}</li>"
        for p in plots
        if p.flat
    )
    if not items:
        return ""
    return f'<div class="flat-plots"><p class="caption">The same everywhere, so not plotted:</p><ul>{items}</ul></div>'
