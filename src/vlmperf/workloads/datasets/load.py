"""The one entry point: a dataset source and a column map in, decoded samples and provenance out.

Each source kind registers a row reader; everything after reading (turning rows into samples,
failed rows, provenance) is shared, so a new kind is one reader, not another branch. A preset's
former hub ids (`moved`) are tried here, in order, when its current id cannot be opened.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from vlmperf.errors import InputError
from vlmperf.workloads.datasets import jsonl, through_datasets
from vlmperf.workloads.datasets.moved import other_id_hint
from vlmperf.workloads.datasets.result import LoadedSubset, Provenance
from vlmperf.workloads.datasets.rows import RawRows, build_samples
from vlmperf.workloads.datasets.spec import ColumnMap, DatasetSource

RowReader = Callable[[DatasetSource, ColumnMap, "str | None"], RawRows]

READERS: dict[str, RowReader] = {
    "hub": through_datasets.load_rows,
    "parquet": through_datasets.load_rows,
    "imagefolder": through_datasets.load_rows,
    "jsonl": jsonl.load_rows,
}


def load_dataset_samples(
    source: DatasetSource,
    columns: ColumnMap,
    *,
    cache_dir: str | Path | None = None,
    fallback_paths: tuple[str, ...] = (),
) -> LoadedSubset:
    """Load the source's selected rows as samples, images decoded to RGB, before any timing.

    `cache_dir` is where `datasets` keeps downloads and prepared splits (default: its own cache,
    `HF_DATASETS_CACHE`). `fallback_paths` are hub ids tried in order when `source.path` cannot be
    opened (a preset's former ids; a user's own id gets none); the id read is `provenance.path`.
    Raises InputError for a missing file or folder, an unknown split or config, a mapped column the
    dataset lacks, an empty split, a split whose references are all empty, or repeated ids. A row
    whose image cannot be decoded is not an error: it is in `failed`, with its id and the reason.
    """
    cache = str(cache_dir) if cache_dir is not None else None
    opened, raw = _read_first_that_opens(source, columns, cache, fallback_paths)
    where = f"{opened.kind} dataset {opened.path!r}"
    base_meta = {"source": opened.kind, "dataset": opened.path, "config": opened.name, "split": raw.split}
    samples, failed = build_samples(raw.rows, columns, base_meta, raw.image_root, where)
    provenance = Provenance(
        kind=source.kind,
        path=opened.path,
        requested_path=source.path,
        name=source.name,
        split=raw.split,
        requested_revision=source.revision,
        revision=raw.revision,
        streaming=source.streaming,
        seed=source.seed,
        limit=source.limit,
        selection=raw.selection,
        indices=tuple(index for index, _ in raw.rows),
        n_available=raw.n_available,
    )
    return LoadedSubset(samples=samples, failed=failed, provenance=provenance)


def _read_first_that_opens(
    source: DatasetSource, columns: ColumnMap, cache_dir: str | None, fallback_paths: tuple[str, ...]
) -> tuple[DatasetSource, RawRows]:
    """Rows of the first of `source.path`, then `fallback_paths`, that opens; the source that did."""
    reader = READERS[source.kind]
    failures: list[str] = []
    for path in (source.path, *fallback_paths):
        attempt = source.model_copy(update={"path": path})
        try:
            return attempt, reader(attempt, columns, cache_dir)
        except through_datasets.DatasetNotOpened as exc:
            failures.append(str(exc))
    if not fallback_paths:
        raise InputError(failures[0] + other_id_hint(source.path))
    raise InputError(
        f"cannot open {source.path!r} nor its former id{'s' if len(fallback_paths) > 1 else ''} "
        f"{', '.join(map(repr, fallback_paths))}: " + " | ".join(failures)
    )
