"""The references shown beside a cell's outputs: what a right answer looked like for those samples.

Records keep outputs, not references. A page gets them from a `ReferenceSource`: a callable taking
a cell of the run document (its `id` and flat `config`) and returning `{sample id: References}`.
`stored_references(run_id)` is the one `render_run` uses: it loads each cell's workload again from
its stored config (`vlmperf.workloads.stored`, the code `vlmperf score --run` uses; each
distinct workload once per page) and keeps the fields the cell's task is scored on (captions for
captioning, the question and its answers for VQA, the question and its choices for multiple
choice), so a caption run over the built-in photos is not shown their quiz answers.

A source that raises for a cell (its dataset is gone, its config no longer validates) costs that
cell its references, never the page: the outputs section says why, for that cell.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import fields, replace
from typing import Any

from vlmperf.errors import VlmperfError
from vlmperf.report.html.escape import clipped, text
from vlmperf.workloads.sample import References

ReferenceSource = Callable[[dict[str, Any]], Mapping[str, References]]
REFERENCE_CHARS = 1000
"""Longest reference text shown (a caption, a question, a choice); longer ones are cut, with a note."""


def stored_references(run_id: str) -> ReferenceSource:
    """The references of a stored run's cells, from their workloads loaded again (see the module docstring)."""
    from vlmperf.workloads.stored import WorkloadSamples, stored_workload

    workloads = WorkloadSamples()

    def references(cell: dict[str, Any]) -> dict[str, References]:
        workload = stored_workload(cell, run_id)
        kept = scored_fields(workload.task)
        return {sample_id: keep(sample.references, kept) for sample_id, sample in workloads.samples(workload).items()}

    return references


def scored_fields(task: str) -> set[str] | None:
    """The References fields a task is scored on, with the question its answers or choices answer;
    None (every field) for a task without a scoring."""
    from vlmperf.scoring.by_task import SCORING

    scoring = SCORING.get(task)
    if scoring is None:
        return None
    kept = {field.sample_name for field in scoring.fields}
    return kept | {"question"} if kept & {"answers", "choices"} else kept


def keep(references: References, kept: set[str] | None) -> References:
    """`references` with the fields outside `kept` emptied (all kept when `kept` is None)."""
    if kept is None:
        return references
    empty = References()  # every field has a default: the emptied value
    return replace(references, **{f.name: getattr(empty, f.name) for f in fields(References) if f.name not in kept})


def failure_reason(exc: Exception) -> str:
    """An error as the page states it: vlmperf's own messages say what to fix; others get their type."""
    return str(exc) if isinstance(exc, VlmperfError) else f"{type(exc).__name__}: {exc}"


def _answers(answers: tuple[str, ...]) -> str:
    """Distinct answers in first-seen order, each with how many people gave it when more than one."""
    counted = Counter(answers)
    shown = [
        clipped(a, REFERENCE_CHARS) + (f" ×{counted[a]}" if counted[a] > 1 else "") for a in dict.fromkeys(answers)
    ]
    return f'<p class="answers"><b>answers:</b> {", ".join(shown)}</p>'


def _choices(choices: tuple[str, ...], right: int | None) -> str:
    items = "".join(
        f'<li class="right">{clipped(c, REFERENCE_CHARS)} <span class="mark">✓ right answer</span></li>'
        if i == right
        else f"<li>{clipped(c, REFERENCE_CHARS)}</li>"
        for i, c in enumerate(choices)
    )
    return f'<ol class="choices" type="A">{items}</ol>'


def reference_cell(references: References | None) -> str:
    """The `<td>` of one sample's references: what is non-empty of captions, question, answers, choices."""
    if references is None:
        return (
            '<td class="reference missing">not among the samples of the workload loaded again (its data changed?)</td>'
        )
    parts = []
    if references.captions:
        parts.append(
            '<ul class="captions">'
            + "".join(f"<li>{clipped(c, REFERENCE_CHARS)}</li>" for c in references.captions)
            + "</ul>"
        )
    if references.question:
        parts.append(f'<p class="question"><b>Q:</b> {clipped(references.question, REFERENCE_CHARS)}</p>')
    if references.answers:
        parts.append(_answers(references.answers))
    if references.choices:
        parts.append(_choices(references.choices, references.answer_index))
    if not parts:
        return '<td class="reference missing">no reference</td>'
    return f'<td class="reference">{"".join(parts)}</td>'


def references_note(reason: str) -> str:
    return f'<p class="note references-error">No references for this cell: {text(reason)}</p>'
