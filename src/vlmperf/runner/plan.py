"""Expand a run spec into cells: the grid's product, times the explicit cells, each validated.

A cell's id is a hash of its whole resolved config (defaults included), so the same settings get
the same id in any run, on any machine: that is what `--resume` matches on.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from vlmperf.config.errors_format import describe_validation_error, shorten
from vlmperf.config.loader import set_dotted
from vlmperf.config.spec import CELL_SECTIONS, CellSpec, RunSpec
from vlmperf.errors import ConfigError

if TYPE_CHECKING:
    from vlmperf.workloads.sources import LoadedWorkload


@dataclass(frozen=True)
class Cell:
    """One resolved configuration of a run, with the sweep values that made it."""

    id: str
    spec: CellSpec
    swept: dict[str, Any]

    @property
    def config(self) -> dict[str, Any]:
        """The resolved config as flat dotted keys (the public schema's `config`)."""
        return flatten(self.spec.model_dump(mode="json"))


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """`{"a": {"b": 1}}` -> `{"a.b": 1}`; lists and scalars are leaves."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flatten(value, f"{dotted}."))
        else:
            flat[dotted] = value
    return flat


def cell_id(spec: CellSpec) -> str:
    """A stable hash of the resolved config (sorted keys, JSON), 12 hex digits."""
    canonical = json.dumps(spec.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]


def expand(run: RunSpec, where: str = "config") -> list[Cell]:
    """Every cell of the run, in sweep order, duplicates (same id) kept once."""
    count = run.sweep.cell_count()  # refused before the product is made: the spec checks it, and so does this
    if count > run.sweep.max_cells:
        raise ConfigError(
            f"{where}: sweep: the sweep would make {count:,} cells, more than sweep.max_cells "
            f"({run.sweep.max_cells:,}): narrow the grid, or raise sweep.max_cells if you mean it"
        )
    base = run.model_dump(mode="json", include=set(CELL_SECTIONS))
    axes = list(run.sweep.grid.items())
    grid_points = [
        dict(zip([k for k, _ in axes], combo, strict=True)) for combo in itertools.product(*[v for _, v in axes])
    ]
    explicit = run.sweep.cells or [{}]
    cells: dict[str, Cell] = {}
    problems: dict[str, list[str]] = {}  # one problem, the cells it occurs in
    for number, (extra, point) in enumerate(itertools.product(explicit, grid_points), start=1):
        overrides = {**point, **extra}
        label = f"sweep cell {number} ({_describe(overrides)})"
        tree = json.loads(json.dumps(base))
        try:
            for key, value in overrides.items():
                if key.split(".")[0] not in CELL_SECTIONS:
                    raise ConfigError(f"sweep key {key!r}: sweepable sections are {', '.join(CELL_SECTIONS)}")
                set_dotted(tree, key, value)
            spec = CellSpec.model_validate(tree)
        except ConfigError as exc:
            problems.setdefault(str(exc), []).append(label)
            continue
        except ValidationError as exc:
            for line in describe_validation_error(exc, CellSpec, "").splitlines():
                problems.setdefault(line.removeprefix(": "), []).append(label)
            continue
        identity = cell_id(spec)
        cells.setdefault(identity, Cell(identity, spec, overrides))
    if problems:
        lines = []
        for problem, labels in problems.items():
            more = f" and {len(labels) - 1} more" if len(labels) > 1 else ""
            lines.append(f"{where}, {labels[0]}{more}: {problem}")
        raise ConfigError("\n".join(lines))
    return list(cells.values())


def _describe(overrides: dict[str, Any]) -> str:
    return shorten(", ".join(f"{k}={shorten(v, 40)}" for k, v in overrides.items()), 160) or "base"


@dataclass(frozen=True)
class Plan:
    """A checked sweep: its cells, every workload's samples and the reference cell, ready to measure."""

    spec: RunSpec
    cells: list[Cell]
    workloads: dict[str, LoadedWorkload]
    references: dict[str, Cell] | None = None

    def workload_for(self, cell: Cell) -> LoadedWorkload:
        return self.workloads[cell.spec.workload.model_dump_json()]
