"""The page's text sections: the run's header and notes, manifest, failed cells, sample outputs.

Every value written here (config values, error messages, sample ids, model outputs) passes
through `escape.text`: none of it is trusted.
"""

from __future__ import annotations

from typing import Any

import orjson

from vlmperf.report.html.cells import RunView
from vlmperf.report.html.escape import text
from vlmperf.report.html.records import SAMPLES_SHOWN

OUTPUT_CHARS = 2000
"""Longest output shown; a longer one is cut with a note of how much was left out."""


def header(view: RunView) -> str:
    run = view.document["run"]
    failed = sum(c.status == "failed" for c in view.cells)
    meta = (
        f"status <b>{text(run['status'])}</b> · created {text(run['created'])} · "
        f"{len(view.cells)} finished cell(s), {failed} failed"
    )
    return f'<header><h1>vlmperf run {text(run["id"])} ({text(run["name"])})</h1><p class="meta">{meta}</p></header>'


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
    return "".join(f'<p class="note">{line}</p>' for line in lines)


def manifest(view: RunView) -> str:
    dumped = orjson.dumps(view.document["run"]["manifest"], option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode()
    return f'<details id="manifest"><summary>Manifest (versions, hardware, config)</summary><pre>{text(dumped)}</pre></details>'


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
    shown = output[:OUTPUT_CHARS]
    cut = f' <span class="meta">[{len(output) - OUTPUT_CHARS} more characters]</span>' if len(output) > OUTPUT_CHARS else ""
    return f'<td class="output">{text(shown)}{cut}</td>'


def outputs(view: RunView) -> str:
    cells = [c for c in view.cells if c.records is not None and c.records.samples]
    if not cells:
        return ""
    blocks = []
    for cell in cells:
        rows = "".join(
            f'<tr><td class="sample">{text(sample_id)}</td>{_output_cell(output, error_class)}</tr>'
            for sample_id, output, error_class in cell.records.samples
        )
        blocks.append(
            f'<div class="outputs-cell" data-cell="{text(cell.id)}"><h3>{text(cell.label)}</h3>'
            f'<table class="outputs"><thead><tr><th>sample</th><th>output</th></tr></thead><tbody>{rows}</tbody></table></div>'
        )
    intro = (
        f'<p class="caption">The first {SAMPLES_SHOWN} samples each cell answered, as the model wrote them. '
        "References are not stored with a run: `vlmperf score` compares outputs with them.</p>"
    )
    return f'<section id="outputs"><h2>Model outputs</h2>{intro}<div class="outputs-grid">{"".join(blocks)}</div></section>'


def plot_block(plot: Any) -> str:
    attrs = "".join(f' data-{text(k)}="{text(v)}"' for k, v in plot.attrs.items())
    return (
        f'<section class="plot-box{" wide" if plot.wide else ""}"><h3>{text(plot.title)}</h3><p class="caption">{text(plot.caption)}</p>'
        f'<div class="plot" id="{text(plot.id)}" data-plot="{text(plot.kind)}" data-traces="{plot.traces}"{attrs}></div>'
        "</section>"
    )
