"""The one entry point: a dataset source and a column map in, decoded samples and provenance out.

Each source kind registers a row reader; everything after reading (turning rows into samples,
failed rows, provenance) is shared, so a new kind is one reader, not another branch.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from vlmperf.workloads.datasets import jsonl, through_datasets
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
    source: DatasetSource, columns: ColumnMap, *, cache_dir: str | Path | None = None
) -> LoadedSubset:
    """Load the source's selected rows as samples, images decoded to RGB, before any timing.

    `cache_dir` is where `datasets` keeps downloads and prepared splits (default: its own cache,
    `HF_DATASETS_CACHE`). Raises InputError for a missing file or folder, an unknown split or
    config, a mapped column the dataset lacks, an empty split, or repeated ids. A row whose image
    cannot be decoded is not an error: it is in `failed`, with its id and the reason.
    """
    raw = READERS[source.kind](source, columns, str(cache_dir) if cache_dir is not None else None)
    base_meta = {"source": source.kind, "dataset": source.path, "config": source.name, "split": raw.split}
    samples, failed = build_samples(
        raw.rows, columns, base_meta, raw.image_root, f"{source.kind} dataset {source.path!r}"
    )
    provenance = Provenance(
        kind=source.kind,
        path=source.path,
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
