"""`agreement_vs_reference`: does a faster setting still give the same answers?

A run names a reference cell (for example fp32 at batch size 1). Every finished cell then reports
the share of samples whose output text equals the reference cell's output for the same sample
(the first output each sample got in each cell), with a bootstrap interval. A setting that is
faster because it computes something different shows it here, whatever its quality scores say.
"""

from __future__ import annotations

from typing import Any

from vlmperf.errors import ConfigError
from vlmperf.runner.plan import Cell
from vlmperf.scoring.result import interval
from vlmperf.store.outputs import first_outputs
from vlmperf.store.sqlite import Store

METRIC = "agreement_vs_reference"


def find_reference(cells: list[Cell], reference: dict[str, Any], where: str) -> Cell:
    """The one cell whose config has every key=value of `reference`."""
    matches = [c for c in cells if all(c.config.get(k) == v for k, v in reference.items())]
    if len(matches) != 1:
        wanted = ", ".join(f"{k}={v}" for k, v in reference.items())
        found = "no cell" if not matches else f"{len(matches)} cells ({', '.join(c.id for c in matches)})"
        raise ConfigError(f"{where}: reference ({wanted}) must name exactly one cell of the sweep, and names {found}")
    return matches[0]


def agreement(outputs: dict[str, str], reference: dict[str, str]) -> dict[str, Any] | None:
    """Share of common samples with identical output text; None when the cells share no sample."""
    common = sorted(set(outputs) & set(reference))
    if not common:
        return None
    same = [float(outputs[i] == reference[i]) for i in common]
    ci = interval(same)
    return {"value": sum(same) / len(same), "ci95": list(ci) if ci else None, "n": len(same)}


def record_agreement(store: Store, run_id: str, cells: list[Cell], reference: Cell) -> None:
    """Compute and store agreement_vs_reference for every finished cell of the plan."""
    if store.cell_status(run_id, reference.id) != "ok":
        return
    reference_outputs = first_outputs(store.records(run_id, reference.id), f"run {run_id}, cell {reference.id}")
    for cell in cells:
        if store.cell_status(run_id, cell.id) != "ok":
            continue
        result = agreement(first_outputs(store.records(run_id, cell.id), f"run {run_id}, cell {cell.id}"), reference_outputs)
        if result is not None:
            store.add_to_summary(run_id, cell.id, {METRIC: {**result, "reference_cell": reference.id}})
