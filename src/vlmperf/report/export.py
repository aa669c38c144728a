"""Export a run as a file other tools read: CSV or Parquet, of its summaries or of its raw records.

- `summaries`: one row per finished cell, the same columns as `vlmperf report --format csv`
  (`report.tables.wide_rows`): config keys, status, error, `<metric>.<stat>`.
- `records`: one row per measured record (a generate call over a batch, or an endpoint request)
  of the run's finished cells: `run_id`, `cell_id`, `seq`, `cell_status`, the cell's config keys
  (dotted, so they never collide with record fields), then the record's own fields.

CSV cannot hold lists or mappings, so those are written as JSON text (`json.loads` gives them
back); Parquet keeps them native (lists, structs) wherever Arrow can type the column, and falls
back to JSON text for a column it cannot (values of mixed kinds, or empty mappings, which
Parquet cannot store). CSV needs nothing beyond the core install; Parquet needs pyarrow.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from vlmperf.errors import InputError
from vlmperf.report.schema import FINISHED
from vlmperf.report.tables import wide_rows

FORMATS = ("csv", "parquet")
WHAT = ("summaries", "records")


def record_rows(document: dict[str, Any], records: Iterable[dict[str, Any]]) -> tuple[list[str], list[dict[str, Any]]]:
    """Columns and rows of the records of the document's cells, each joined with its cell's config."""
    cells = {cell["id"]: cell for cell in document["cells"] if cell["status"] in FINISHED}
    config_keys: list[str] = []
    for cell in cells.values():
        config_keys += [k for k in cell["config"] if k not in config_keys]
    head = ["run_id", "cell_id", "seq", "cell_status", *config_keys]
    fields: dict[str, None] = {}
    rows = []
    for record in records:
        cell = cells.get(record["cell_id"])
        if cell is None:
            continue  # a record of an unfinished cell's attempt, not part of the document
        fields.update(dict.fromkeys(k for k in record if k not in ("cell_id", "seq")))
        rows.append(
            {
                "run_id": document["run"]["id"],
                "cell_id": record["cell_id"],
                "seq": record["seq"],
                "cell_status": cell["status"],
                **cell["config"],
                **record,
            }
        )
    return head + [k for k in fields if k not in head], rows


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value)
    return value


def csv_text(header: list[str], rows: list[dict[str, Any]]) -> str:
    """CSV with a header row; null as an empty field, lists and mappings as JSON text (the one CSV
    layout of vlmperf: `report --format csv` and `export` both write it)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=header, lineterminator="\n", extrasaction="raise")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _csv_value(row.get(k)) for k in header})
    return out.getvalue()


def write_csv(header: list[str], rows: list[dict[str, Any]], path: Path) -> None:
    with path.open("w", newline="") as handle:
        handle.write(csv_text(header, rows))


def _pyarrow():
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError as exc:
        raise InputError("Parquet export needs pyarrow: pip install pyarrow (or export --format csv)") from exc
    return pyarrow


def _has_empty_struct(kind: Any, pa: Any) -> bool:
    """Whether an Arrow type holds a struct with no fields (Parquet cannot store one)."""
    if pa.types.is_struct(kind):
        return kind.num_fields == 0 or any(_has_empty_struct(kind.field(i).type, pa) for i in range(kind.num_fields))
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        return _has_empty_struct(kind.value_type, pa)
    return False


def _arrow_column(values: list[Any], pa: Any) -> Any:
    """The column as Arrow infers it, or as JSON text when Arrow cannot type it or Parquet cannot store it."""
    try:
        column = pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        column = None
    if column is None or _has_empty_struct(column.type, pa):
        column = pa.array([None if v is None else json.dumps(v) for v in values], type=pa.string())
    return column


def write_parquet(header: list[str], rows: list[dict[str, Any]], path: Path) -> None:
    """Parquet with native lists and structs where Arrow can type a column (see the module docstring)."""
    pa = _pyarrow()
    columns = [_arrow_column([row.get(k) for row in rows], pa) for k in header]
    pa.parquet.write_table(pa.table(columns, names=header), path)


WRITERS = {"csv": write_csv, "parquet": write_parquet}


def export_run(
    document: dict[str, Any],
    records: Iterable[dict[str, Any]] | None,
    path: str | Path,
    *,
    format: str = "csv",
    what: str = "summaries",
) -> int:
    """Write a run's summaries or records to `path`; returns the number of rows written."""
    if format not in FORMATS:
        raise InputError(f"--format {format!r} is not known; use one of: {', '.join(FORMATS)}")
    if what not in WHAT:
        raise InputError(f"--what {what!r} is not known; use one of: {', '.join(WHAT)}")
    if what == "records" and records is None:
        raise InputError("exporting records needs the run's records: pass them (Store.records(run_id))")
    header, rows = wide_rows(document) if what == "summaries" else record_rows(document, records or [])
    path = Path(path)
    writer = WRITERS[format]
    if format == "parquet":
        _pyarrow()  # say what to install before touching the file
    try:
        writer(header, rows, path)
    except OSError as exc:
        raise InputError(
            f"cannot write {path} ({exc.strerror or exc}): give -o a file in an existing, writable folder"
        ) from exc
    return len(rows)
