"""Turn selected dataset rows into Samples, the same way for every source kind.

A row whose image or references cannot be used becomes a FailedSample with its id and the
reason: one bad row among thousands must be recorded, not crash the run. What is wrong with the
dataset as a whole (a mapped column that does not exist, duplicate ids, references that are empty
in every selected row) is an InputError.

Empty references: a split whose answers are withheld (TextVQA's test split holds empty answers)
would be scored as all wrong. A row whose mapped caption or answer column holds nothing but empty
text is therefore not a sample; when that is every selected row, the split itself is refused.
"""

from __future__ import annotations

import string
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from vlmperf.errors import InputError
from vlmperf.workloads.datasets.images import ImageDecodeError, ImageRoot, decode_images
from vlmperf.workloads.datasets.result import FailedSample
from vlmperf.workloads.datasets.spec import ColumnMap
from vlmperf.workloads.sample import References, Sample


@dataclass(frozen=True)
class RawRows:
    """Selected rows before they become samples, with what is known about the split."""

    rows: list[tuple[int, dict[str, Any]]]
    split: str | None
    revision: str | None
    selection: str
    n_available: int | None
    image_root: ImageRoot | None


class RowError(Exception):
    """One row's value is unusable; the message names the column."""


class EmptyReferenceError(RowError):
    """A row's mapped reference column holds no non-empty text."""


def require_columns(columns: ColumnMap, available: Iterable[str], where: str) -> None:
    """Raise InputError naming every mapped column the dataset lacks, and the columns it has."""
    have = list(available)
    missing = {field: column for field, column in columns.used().items() if column not in have}
    if missing:
        wanted = ", ".join(f"{field} -> {column!r}" for field, column in missing.items())
        raise InputError(
            f"{where} has no column for {wanted}; its columns are: {', '.join(map(repr, have)) or 'none'}. "
            "Fix the column mapping"
        )


def build_samples(
    rows: Iterable[tuple[int, Mapping[str, Any]]],
    columns: ColumnMap,
    base_meta: Mapping[str, Any],
    image_root: ImageRoot | None,
    where: str,
) -> tuple[list[Sample], list[FailedSample]]:
    """Samples and failed samples from (row index, row) pairs; ids must be unique across both."""
    samples: list[Sample] = []
    failed: list[FailedSample] = []
    empty: list[int] = []
    for index, row in rows:
        sample_id = _row_id(row, index, columns)
        try:
            samples.append(_sample(row, index, sample_id, columns, base_meta, image_root))
        except (RowError, ImageDecodeError) as exc:
            failed.append(FailedSample(id=sample_id or f"row-{index}", index=index, reason=str(exc)))
            if isinstance(exc, EmptyReferenceError):
                empty.append(index)
    _require_unique_ids([s.id for s in samples] + [f.id for f in failed], columns, where)
    if not samples and failed and len(empty) == len(failed):
        split = base_meta.get("split")
        raise InputError(
            f"{where}{f', split {split!r},' if split else ''} has empty {' and '.join(_reference_columns(columns))} "
            "references in every selected row (withheld, as in TextVQA's test split), so it cannot be scored: "
            "use a split with references (e.g. validation), or map that column to null in workload.columns "
            "to measure speed only"
        )
    return samples, failed


def _row_id(row: Mapping[str, Any], index: int, columns: ColumnMap) -> str | None:
    if columns.id is None:
        return str(index)
    value = row.get(columns.id)
    if value is None or isinstance(value, (list, dict, bytes)) or str(value) == "":
        return None
    return str(value)


def _sample(
    row: Mapping[str, Any],
    index: int,
    sample_id: str | None,
    columns: ColumnMap,
    base_meta: Mapping[str, Any],
    image_root: ImageRoot | None,
) -> Sample:
    if sample_id is None:
        raise RowError(f"row {index} has no usable id in column {columns.id!r}")
    choices = _texts(row, columns.choices)
    captions, answers = _texts(row, columns.captions), _texts(row, columns.answers)
    for column, texts in ((columns.captions, captions), (columns.answers, answers)):
        if column is not None and not any(text.strip() for text in texts):
            raise EmptyReferenceError(f"row {index}: column {column!r} holds no reference (only empty text)")
    references = References(
        captions=captions,
        question=_text(row, columns.question),
        answers=answers,
        choices=choices,
        answer_index=_answer_index(row, columns.answer_index, len(choices)),
    )
    if columns.image and columns.image not in row:
        raise RowError(f"row {index} has no {columns.image!r} value")
    images = decode_images(row.get(columns.image), image_root) if columns.image else ()
    meta = {**base_meta, "row_index": index, **{key: row.get(column) for key, column in columns.meta.items()}}
    return Sample(id=sample_id, images=images, references=references, meta=meta)


def _reference_columns(columns: ColumnMap) -> list[str]:
    """The mapped reference columns (captions, answers) that the empty-reference rule reads."""
    return [repr(column) for column in (columns.captions, columns.answers) if column is not None]


def _text(row: Mapping[str, Any], column: str | None) -> str | None:
    if column is None or row.get(column) is None:
        return None
    value = row[column]
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise RowError(f"column {column!r} holds {type(value).__name__}, expected text")


def _texts(row: Mapping[str, Any], column: str | None) -> tuple[str, ...]:
    if column is None or row.get(column) is None:
        return ()
    value = row[column]
    if isinstance(value, str):
        return (value,)
    if isinstance(value, (list, tuple)) and all(isinstance(item, str) for item in value):
        return tuple(value)
    raise RowError(f"column {column!r} holds {type(value).__name__}, expected a text or a list of texts")


def _answer_index(row: Mapping[str, Any], column: str | None, n_choices: int) -> int | None:
    """The right choice as a 0-based index; an int, a digit string or a letter (A = 0) are accepted."""
    if column is None or row.get(column) is None:
        return None
    value = row[column]
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    elif isinstance(value, str) and len(value.strip()) == 1 and value.strip().upper() in string.ascii_uppercase:
        value = string.ascii_uppercase.index(value.strip().upper())
    if isinstance(value, bool) or not isinstance(value, int):
        raise RowError(f"column {column!r} holds {value!r}, expected a choice index (0, 1, ...) or letter (A, B, ...)")
    if value < 0 or (n_choices and value >= n_choices):
        raise RowError(f"column {column!r} holds choice {value}, but the row has {n_choices} choices")
    return value


def _require_unique_ids(ids: list[str], columns: ColumnMap, where: str) -> None:
    repeated = [sample_id for sample_id, count in Counter(ids).items() if count > 1]
    if repeated:
        raise InputError(
            f"{where}: sample ids must be unique, but {repeated[:5]} repeat in column {columns.id!r}; "
            "map id to a unique column, or leave it unset to number rows"
        )
