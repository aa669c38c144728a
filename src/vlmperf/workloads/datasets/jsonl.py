"""A jsonl file beside a folder of images: the simplest user dataset, read without `datasets`.

Each non-blank line is one JSON object; its image column holds a path relative to `image_dir`
(default: the jsonl file's folder). The file is read here rather than through `datasets` so a
malformed line is reported by its line number, and the text is cheap to hold, so a subset is
chosen by index like a prepared hub split.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from vlmperf.errors import InputError
from vlmperf.workloads.datasets.images import ImageRoot
from vlmperf.workloads.datasets.rows import RawRows, require_columns
from vlmperf.workloads.datasets.selection import choose_indices
from vlmperf.workloads.datasets.spec import ColumnMap, DatasetSource


def load_rows(source: DatasetSource, columns: ColumnMap, cache_dir: str | None = None) -> RawRows:
    """Select rows of a jsonl file; a mapped column must appear on some line (a line without its image fails alone)."""
    path = Path(source.path).expanduser()
    if not path.is_file():
        raise InputError(f"no jsonl file at {source.path}")
    records = _read(path)
    if not records:
        raise InputError(f"{path} has no rows: write one JSON object per line")
    available: dict[str, None] = {}
    for record in records:
        available.update(dict.fromkeys(record))
    require_columns(columns, available, f"jsonl file {path}")
    indices, selection = choose_indices(len(records), source.limit, source.seed, source.selection)
    rows = [(index, records[index]) for index in indices]
    folder = Path(source.image_dir).expanduser() if source.image_dir else path.parent
    return RawRows(rows, None, None, selection, len(records), ImageRoot(folder, not source.allow_paths_outside))


def _read(path: Path) -> list[dict[str, Any]]:
    """Every non-blank line as an object; a line that is not a JSON object is an error naming it."""
    records: list[dict[str, Any]] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read {path}: {exc}") from exc
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as exc:
            raise InputError(f"{path}, line {number}: not JSON ({exc})") from exc
        if not isinstance(record, dict):
            raise InputError(f"{path}, line {number}: expected a JSON object, got {type(record).__name__}")
        records.append(record)
    return records
