"""The run as the page sees it: finished cells with short labels, what varies, and their records.

Labels name a cell by what differs between the cells (`batch_size=4, dtype=bf16`), so a legend
reads like the sweep. Every plot works from these views; none reads the document itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from vlmperf.backends.registry import DEFAULT_KIND
from vlmperf.metrics.summary_types import CellSummary, interval, statistic
from vlmperf.report.html.records import CellRecords, RecordSource, reduce_records
from vlmperf.report.html.references import ReferenceSource, failure_reason
from vlmperf.report.tables import varying_keys

NUMERIC_AXES = (
    "scenario.batch_size",
    "workload.max_input_len",
    "workload.image_size",
    "scenario.concurrency",
    "scenario.rate",
)
"""Config keys a sweep can vary along a number line: each gets its own plots with that key as x."""


@dataclass
class CellView:
    id: str
    kind: str
    status: str
    config: dict[str, Any]
    metrics: CellSummary
    info: dict[str, Any]
    error: dict[str, Any] | None
    label: str = ""
    records: CellRecords | None = None
    references: Mapping[str, Any] | None = None
    """The References of the samples shown, by sample id, when the page has a reference source."""
    references_error: str | None = None
    """Why the reference source gave nothing for this cell."""

    def stat(self, metric: str, part: str) -> float | None:
        """One statistic of one metric (`p50`, `mean`, `value`, ...), or None when the cell lacks it."""
        return statistic(self.metrics, metric, part)

    def ci95(self, metric: str) -> tuple[float, float] | None:
        """The 95% interval of a distribution's mean or of a score, or None when the cell has none."""
        return interval(self.metrics, metric)


@dataclass
class RunView:
    document: dict[str, Any]
    cells: list[CellView]
    varying: list[str]
    records_read: bool
    references_read: bool = False
    short: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> list[CellView]:
        return [c for c in self.cells if c.status == "ok"]

    @property
    def kinds(self) -> set[str]:
        return {c.kind for c in self.cells}

    def label(self, cell: CellView, without: tuple[str, ...] = ()) -> str:
        """The cell named by its varying keys, leaving out `without` (the plot's x axis)."""
        parts = [f"{self.short[k]}={cell.config.get(k)}" for k in self.varying if k not in without]
        return ", ".join(parts) or (cell.label if not without else "all cells")

    def numeric_axes(self) -> list[str]:
        """The numeric axes that take at least two numeric values among the ok cells."""
        axes = []
        for key in NUMERIC_AXES:
            values = {c.config.get(key) for c in self.ok}
            numeric = {v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)}
            if key in self.varying and len(numeric) >= 2:
                axes.append(key)
        return axes

    def categorical(self) -> list[str]:
        """Varying keys that are not numeric axes (target, dtype, provider, dataset ...)."""
        return [k for k in self.varying if k not in NUMERIC_AXES]


def short_names(keys: list[str]) -> dict[str, str]:
    """Each key by its last part (`scenario.batch_size` -> `batch_size`) unless two keys share it."""
    last = [k.rsplit(".", 1)[-1] for k in keys]
    return {k: (tail if last.count(tail) == 1 else k) for k, tail in zip(keys, last, strict=True)}


def _references(cell: CellView, document_cell: dict[str, Any], references: ReferenceSource) -> None:
    """The references of the cell's shown samples, or why there are none (never an exception)."""
    try:
        cell.references = references(document_cell)
    except Exception as exc:  # shown in the cell's outputs, never the end of the page
        cell.references_error = failure_reason(exc)


def run_view(
    document: dict[str, Any], source: RecordSource | None, references: ReferenceSource | None = None
) -> RunView:
    """Views of the document's finished cells, each with its reduced records when a source is given,
    and the references of the samples it shows when `references` is given too."""
    cells = [
        CellView(
            id=c["id"],
            kind=c["config"].get("target.kind", DEFAULT_KIND),
            status=c["status"],
            config=c["config"],
            metrics=c.get("metrics") or {},
            info=c.get("info") or {},
            error=c.get("error"),
        )
        for c in document["cells"]
    ]
    varying = varying_keys(document["cells"])
    view = RunView(
        document,
        cells,
        varying,
        records_read=source is not None,
        references_read=references is not None,
        short=short_names(varying),
    )
    for cell, document_cell in zip(cells, document["cells"], strict=True):
        cell.label = view.label(cell) if varying else cell.id
        if source is not None:
            cell.records = reduce_records(source(cell.id), cell.kind)
        if references is not None and cell.records is not None and cell.records.samples:
            _references(cell, document_cell, references)
    return view
