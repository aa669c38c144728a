"""`vlmperf score`: score a predictions file, or re-score the outputs of a stored run.

    vlmperf score --task vqa --predictions preds.jsonl [--format table|json] [-o FILE]
    vlmperf score --run RUN_ID|latest [--out DIR] [--format table|json] [-o FILE]
    either with [--per-sample] [--normalised-text-errors]

The JSON document of a predictions file (`score_file`):

    {"task": str, "n": int,
     "metrics": {"<metric>": {"value": float, "ci95": [lo, hi] | null,
                              "per_sample": {"<id>": float}  (with --per-sample)}},
     "implementation": {"<metric>": {"name": ..., "version": ..., ...}}}

`n` is the number of predictions scored; `ci95` is the 95% bootstrap interval over samples
(null below 5 samples); the metrics are the task's, in the order `vlmperf.scoring.by_task`
declares them, and `implementation` records what computed each one (its reference, the rule,
the version). `per_sample` gives each sample's own score, so a user can see which items move a
figure; for a corpus figure (BLEU, METEOR, wer, cer) the set value is not the mean of these.
`--normalised-text-errors` adds `wer_normalised` and `cer_normalised` where `wer` is reported;
re-scoring a run whose config turned `scoring.normalised_text_errors` on adds them too.

The JSON document of a run (`score_run`):

    {"run": str, "cells": {"<cell id>": <the document above>}, "skipped": {"<cell id>": str}}

Each finished (`ok`) cell is scored on its stored outputs: per sample id, the output of the first
record that holds it (a sample measured more than once gave the same output under greedy
decoding; under sampling the first draw is what counts), samples whose output is null are left
out. The references come from the cell's workload, loaded again from its stored config
(`workload.*`) by `vlmperf.workloads.stored`, as the HTML report does, and the task to
score with is its `workload.task`. `skipped` names the cells that were not scored and why (a
failed or unfinished cell). Nothing is written to the store.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console, JustifyMethod
from rich.table import Table

from vlmperf.errors import InputError
from vlmperf.scoring.by_task import ScoringSession, get_scoring
from vlmperf.scoring.predictions import read_predictions
from vlmperf.scoring.result import MetricResult
from vlmperf.store.outputs import first_outputs
from vlmperf.text_output import write_text_output

FORMATS = ("table", "json")


def metrics_document(
    task: str, ids: Sequence[str], results: Mapping[str, MetricResult], *, per_sample: bool = False
) -> dict[str, Any]:
    """The public JSON shape of one scored set; `ids` are the scored ids, in the scorer's order."""
    metrics: dict[str, Any] = {}
    for name, result in results.items():
        metrics[name] = {"value": result.value, "ci95": list(result.ci95) if result.ci95 is not None else None}
        if per_sample and result.per_sample is not None:
            metrics[name]["per_sample"] = dict(zip(ids, result.per_sample, strict=True))
    return {
        "task": task,
        "n": len(ids),
        "metrics": metrics,
        "implementation": {name: result.implementation for name, result in results.items()},
    }


def score_file(
    task: str, path: Path | str, *, per_sample: bool = False, normalised_text_errors: bool = False
) -> dict[str, Any]:
    """Score a predictions file for `task`; bad input is an InputError naming the line."""
    scoring = get_scoring(task)
    loaded = read_predictions(path, scoring)
    with ScoringSession(normalised_text_errors=normalised_text_errors) as session:
        results = scoring.score(loaded.predictions, loaded.references, session)
    return metrics_document(scoring.name, list(loaded.predictions), results, per_sample=per_sample)


# re-scoring a stored run ------------------------------------------------------------------------


def score_run(
    run_id: str, out: Path | str, *, per_sample: bool = False, normalised_text_errors: bool = False
) -> dict[str, Any]:
    """Re-score every finished cell of a stored run (read only); see the module docstring."""
    from vlmperf.store.sqlite import Store
    from vlmperf.workloads.stored import WorkloadSamples, stored_workload

    with Store.open(out, create=False) as store:
        run = store.run(run_id)
        cells = store.cells(run.id)
        ok = [cell for cell in cells if cell["status"] == "ok"]
        if not ok:
            raise InputError(
                f"run {run.id} has no finished (ok) cell to score ({len(cells)} cells, none ok): "
                "`vlmperf report` shows why; score a run with finished cells"
            )
        records = {cell["id"]: store.records(run.id, cell["id"]) for cell in ok}
    skipped = {cell["id"]: f"status {cell['status']}" for cell in cells if cell["status"] != "ok"}
    workloads = WorkloadSamples()
    scored: dict[str, Any] = {}
    normalised = normalised_text_errors or _run_setting(run.manifest, "normalised_text_errors")
    with ScoringSession(normalised_text_errors=normalised) as session:
        for cell in ok:
            workload = stored_workload(cell, run.id)
            try:
                scoring = get_scoring(workload.task)
            except InputError as exc:
                raise InputError(f"run {run.id}, cell {cell['id']}: {exc}") from None
            outputs = first_outputs(records[cell["id"]], f"run {run.id}, cell {cell['id']}")
            if not outputs:
                skipped[cell["id"]] = "no outputs stored"
                continue
            references = scoring.references_from_samples(
                workloads.samples(workload), list(outputs), f"run {run.id}, cell {cell['id']}"
            )
            results = scoring.score(outputs, references, session)
            scored[cell["id"]] = metrics_document(scoring.name, list(outputs), results, per_sample=per_sample)
    return {"run": run.id, "cells": scored, "skipped": skipped}


def _run_setting(manifest: Mapping[str, Any], name: str) -> bool:
    """A `scoring.*` setting of a stored run's config (False for runs stored before it existed)."""
    scoring = (manifest.get("config") or {}).get("scoring") or {}
    return bool(scoring.get(name, False))


# rendering ----------------------------------------------------------------------------------------


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"


def _interval(ci95: list[float] | None) -> str:
    return "" if ci95 is None else f"[{ci95[0]:.4f}, {ci95[1]:.4f}]"


def _table_text(table: Table, notes: list[str]) -> str:
    console = Console(file=io.StringIO(), width=200, record=True, color_system=None)
    console.print(table)
    for note in notes:
        console.print(note, markup=False, highlight=False)
    return console.export_text()


_RUN_COLUMNS: tuple[tuple[str, JustifyMethod], ...] = (
    ("cell", "left"), ("task", "left"), ("n", "right"), ("metric", "left"), ("value", "right"), ("ci95", "right"),
)  # fmt: skip


def render_table(document: dict[str, Any]) -> str:
    """A scored set, or a re-scored run, as a terminal table (plain text)."""
    if "cells" in document:
        table = Table(title=f"run {document['run']}: quality of the stored outputs", title_justify="left")
        for column, justify in _RUN_COLUMNS:
            table.add_column(column, justify=justify)
        for cell_id, scored in document["cells"].items():
            for name, metric in scored["metrics"].items():
                table.add_row(
                    cell_id, scored["task"], str(scored["n"]), name, _number(metric["value"]), _interval(metric["ci95"])
                )
        notes = [f"cell {cell_id} not scored: {why}" for cell_id, why in document["skipped"].items()]
        return _table_text(table, notes)
    table = Table(title=f"task {document['task']}, n={document['n']}", title_justify="left")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column("ci95", justify="right")
    for name, metric in document["metrics"].items():
        table.add_row(name, _number(metric["value"]), _interval(metric["ci95"]))
    return _table_text(table, [])


def render(document: dict[str, Any], format: str) -> str:
    if format == "json":
        return orjson.dumps(document, option=orjson.OPT_INDENT_2).decode() + "\n"
    return render_table(document)


def run_score_command(
    *,
    task: str | None,
    predictions: Path | None,
    run: str | None,
    format: str,
    output: Path | None,
    out: Path | str,
    per_sample: bool = False,
    normalised_text_errors: bool = False,
) -> Path | None:
    """What `vlmperf score` does: check the options, score, write the result (stdout or `output`).

    Returns the file written, or None when the result went to stdout.
    """
    if format not in FORMATS:
        raise InputError(f"--format {format!r} is not known; use one of: {', '.join(FORMATS)}")
    if per_sample and format != "json":
        raise InputError("--per-sample adds each sample's score to the JSON document: add --format json")
    if run is not None:
        if task is not None or predictions is not None:
            raise InputError(
                "--run re-scores a stored run with each cell's own task: leave out --task and --predictions, "
                "or leave out --run to score a predictions file"
            )
        document = score_run(run, out, per_sample=per_sample, normalised_text_errors=normalised_text_errors)
    elif task is None or predictions is None:
        raise InputError(
            "say what to score: --task TASK --predictions FILE.jsonl (a predictions file), or --run RUN_ID "
            f"(a stored run); tasks: {', '.join(_task_names())}"
        )
    else:
        document = score_file(task, predictions, per_sample=per_sample, normalised_text_errors=normalised_text_errors)
    return write_text_output(render(document, format), output)


def _task_names() -> list[str]:
    from vlmperf.scoring.by_task import SCORING

    return list(SCORING)
