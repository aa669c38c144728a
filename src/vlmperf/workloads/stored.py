"""A stored cell's workload, loaded again from its stored config: records keep outputs, not references.

`vlmperf score --run` scores a run's outputs against these samples' references, and the HTML report
shows them beside the outputs; both go through this module, so both read the same samples.

A cell's `workload.*` keys (flat, dotted) are validated as this version's `Workload` spec; a config
that no longer validates is an InputError naming the run and the cell. `WorkloadSamples` loads each
distinct workload once (two cells that differ only in batch size share their samples) and remembers
a workload that failed to load, so it is not loaded again for the next cell.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from vlmperf.errors import InputError

if TYPE_CHECKING:
    from vlmperf.config.spec import Workload
    from vlmperf.workloads.sample import Sample


def workload_tree(config: Mapping[str, Any]) -> dict[str, Any]:
    """The cell's `workload.*` keys (flat, dotted) as the nested mapping the Workload spec reads."""
    from vlmperf.config.loader import set_dotted

    tree: dict[str, Any] = {}
    for key, value in config.items():
        if key.startswith("workload."):
            set_dotted(tree, key.removeprefix("workload."), value)
    return tree


def stored_workload(cell: Mapping[str, Any], run_id: str) -> Workload:
    """The workload of a stored cell (a mapping with `id` and its flat `config`)."""
    from pydantic import ValidationError

    from vlmperf.config.spec import Workload

    try:
        return Workload.model_validate(workload_tree(cell["config"]))
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'workload'}: {e['msg']}" for e in exc.errors())
        raise InputError(
            f"run {run_id}, cell {cell['id']}: its stored workload config does not fit this version of vlmperf "
            f"({problems}); read it with the vlmperf version that measured it"
        ) from None


class WorkloadSamples:
    """Each distinct workload's samples by id, loaded on first use and kept (failures too)."""

    def __init__(self) -> None:
        self._loaded: dict[str, dict[str, Sample] | Exception] = {}

    def samples(self, workload: Workload) -> dict[str, Sample]:
        """The workload's usable samples by id; a workload that failed to load raises its error again."""
        from vlmperf.workloads.sources import load_samples

        key = workload.model_dump_json()
        if key not in self._loaded:
            try:
                self._loaded[key] = {sample.id: sample for sample in load_samples(workload)}
            except Exception as exc:  # kept, and raised for every cell of this workload
                self._loaded[key] = exc
        loaded = self._loaded[key]
        if isinstance(loaded, Exception):
            raise loaded
        return loaded
