"""The Python API the CLI is a thin shell over: run a config, read stored runs.

import vlmperf.api as vp
outcome = vp.run("examples/llava-1.5-7b-speed.yaml", overrides=["target.no_weights=true"])
doc = vp.report(outcome.run_id)          # the public JSON document, as a dict
cells = vp.cells_frame(outcome.run_id)   # pandas DataFrame, one row per cell
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from vlmperf.config.loader import load_run_spec
from vlmperf.report.schema import run_document
from vlmperf.report.tables import wide_rows
from vlmperf.runner.plan import expand
from vlmperf.store.sqlite import DEFAULT_DIR, Store

if TYPE_CHECKING:
    from vlmperf.runner.events import RunEvents
    from vlmperf.runner.execute import RunOutcome


def run(
    config: str | Path | None = None,
    *,
    overrides: list[str] | None = None,
    out: str | Path = DEFAULT_DIR,
    resume: bool | str = False,
    events: RunEvents | None = None,
) -> RunOutcome:
    """Run a YAML config (None: the built-in default run) and store its results under `out`.

    Everything that can be checked is checked before the store is opened, so a mistake in the
    config or the inputs never leaves anything behind.
    """
    path = Path(config) if config is not None else None
    where = str(path) if path else "the built-in default config"
    spec = load_run_spec(path, overrides or [])
    expand(spec, where)  # config mistakes surface here, before torch is imported

    from vlmperf.runner.execute import execute, prepare  # loads torch: only when measuring

    plan = prepare(spec, where)
    with Store.open(out) as store:
        return execute(plan, store, resume=resume, events=events)


def report(run_id: str = "latest", *, out: str | Path = DEFAULT_DIR) -> dict[str, Any]:
    """A stored run as the public JSON document (a dict)."""
    with Store.open(out, create=False) as store:
        return run_document(store, run_id)


def _pandas():
    try:
        import pandas
    except ImportError as exc:
        raise ImportError("DataFrames need pandas: pip install pandas") from exc
    return pandas


def cells_frame(run_id: str = "latest", *, out: str | Path = DEFAULT_DIR):
    """One row per cell: config keys, status, and `<metric>.<stat>` columns."""
    header, rows = wide_rows(report(run_id, out=out))
    return _pandas().DataFrame(rows, columns=header)


def records_frame(run_id: str = "latest", *, out: str | Path = DEFAULT_DIR):
    """One row per measured record (batch) of a run."""
    with Store.open(out, create=False) as store:
        records = store.records(store.run(run_id).id)
    return _pandas().DataFrame(records)
