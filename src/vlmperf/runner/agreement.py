"""`agreement_vs_reference`: does a faster setting still give the same answers?

A run names a reference setting (for example fp32 at batch size 1). Every finished cell then
reports the share of samples whose output text equals the output of its reference cell (the cell
equal to it but for that setting) for the same sample (the first output each sample got in each
cell), with a bootstrap interval. A setting that is faster because it computes something
different shows it here, whatever its quality scores say.
"""

from __future__ import annotations

from typing import Any

from vlmperf.errors import ConfigError
from vlmperf.metrics.summary_types import ScoreValue
from vlmperf.runner.plan import Cell
from vlmperf.scoring.result import interval
from vlmperf.store.outputs import first_outputs
from vlmperf.store.sqlite import Store

METRIC = "agreement_vs_reference"


def reference_cells(cells: list[Cell], reference: dict[str, Any], where: str) -> dict[str, Cell]:
    """For each cell, the cell equal to it but for the reference keys set to the reference values.

    So `{target.dtype: fp32, scenario.batch_size: 1}` compares every cell with the fp32, batch-1
    cell of the same task, input length, ...; cells with no such counterpart get no figure.
    """
    by_config = {_frozen(c.config): c for c in cells}
    pairs = {}
    for cell in cells:
        match = by_config.get(_frozen({**cell.config, **reference}))
        if match is not None:
            pairs[cell.id] = match
    if not pairs:
        wanted = ", ".join(f"{k}={v}" for k, v in reference.items())
        raise ConfigError(f"{where}: reference ({wanted}) matches no cell of the sweep; name values the sweep has")
    return pairs


def _frozen(config: dict[str, Any]) -> str:
    return repr(sorted(config.items()))


def agreement(outputs: dict[str, str], reference: dict[str, str]) -> ScoreValue | None:
    """Share of common samples with identical output text; None when the cells share no sample."""
    common = sorted(set(outputs) & set(reference))
    if not common:
        return None
    same = [float(outputs[i] == reference[i]) for i in common]
    ci = interval(same)
    return {"value": sum(same) / len(same), "ci95": list(ci) if ci else None, "n": len(same)}


def record_agreement(store: Store, run_id: str, pairs: dict[str, Cell]) -> None:
    """Compute and store agreement_vs_reference for every finished cell that has a finished reference."""
    outputs: dict[str, dict[str, str]] = {}

    def outputs_of(cell_id: str) -> dict[str, str]:
        if cell_id not in outputs:
            outputs[cell_id] = first_outputs(store.records(run_id, cell_id), f"run {run_id}, cell {cell_id}")
        return outputs[cell_id]

    for cell_id, reference in pairs.items():
        if store.cell_status(run_id, cell_id) != "ok" or store.cell_status(run_id, reference.id) != "ok":
            continue
        result = agreement(outputs_of(cell_id), outputs_of(reference.id))
        if result is not None:
            store.add_to_summary(run_id, cell_id, {METRIC: {**result, "reference_cell": reference.id}})
