"""Hub, parquet and image-folder sources, all read through the `datasets` library's own builders.

One code path for the three: `load_dataset_builder` then `as_dataset` (after
`download_and_prepare`) or `as_streaming_dataset`, which is exactly what `datasets.load_dataset`
does inside; we call the steps ourselves to read the commit the hub resolved the revision to
(`builder.base_path` is `hf://datasets/<id>@<sha>`) and to fetch only the split used.

Fetching one split: a builder made from the repo alone prepares every split it lists
(`download_and_prepare` has no split argument in `datasets` 5.2), which for TextVQA is about 8 GB
to read 500 validation rows. So the first builder only lists the repo (its resolved commit, its
splits' files, the card's split sizes); a second builder is made with `data_files` holding just
the chosen split's files, as resolved by the first (`hf://datasets/<id>@<sha>/...` for the hub, at
that same commit), and that one is prepared or streamed. Its cache entry is its own (`datasets`
hashes the data files into the config id), so it never mixes with a full preparation.

A local folder laid out like a hub repo takes the same path as the hub, which is how the tests
exercise it without a network.

`datasets` is imported lazily: it is the `quality` extra, and reading results must not pay for it.
"""

from __future__ import annotations

import contextlib
import glob
import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from vlmperf.errors import InputError
from vlmperf.workloads.datasets.images import ImageRoot
from vlmperf.workloads.datasets.rows import RawRows, require_columns
from vlmperf.workloads.datasets.selection import choose_indices, first, pick, reservoir
from vlmperf.workloads.datasets.spec import ColumnMap, DatasetSource

_HUB_COMMIT = re.compile(r"^hf://datasets/.+@([0-9a-f]{40})(/|$)")
_HUB_ID = re.compile(r"^[\w.-]+(/[\w.-]+)?$")


def resolved_commit(base_path: str | None) -> str | None:
    """The 40-hex commit in a builder's `hf://datasets/<id>@<sha>` base path, or None for local data."""
    match = _HUB_COMMIT.match(base_path or "")
    return match.group(1) if match else None


class DatasetNotOpened(InputError):
    """The dataset itself could not be opened (not found, unreachable, offline): a preset may try its former id."""


def load_rows(source: DatasetSource, columns: ColumnMap, cache_dir: str | None) -> RawRows:
    """Select rows of a hub / parquet / imagefolder source, checking the mapped columns first."""
    datasets = _import_datasets()
    builder_args, image_root = _builder_args(source)
    where = _describe(source)
    with _quiet(datasets):
        try:
            listing = datasets.load_dataset_builder(**builder_args, cache_dir=cache_dir)
        except (FileNotFoundError, ConnectionError, ValueError) as exc:  # DatasetNotFoundError is a FileNotFoundError
            remote = source.kind == "hub" and image_root is None
            hint = f" (and there is no local folder {source.path})" if remote else ""
            raise DatasetNotOpened(f"cannot open {where}{hint}: {exc}") from exc
        split = _pick_split(listing, source, where)
        revision = resolved_commit(getattr(listing, "base_path", None)) or source.revision
        builder = _split_builder(datasets, listing, builder_args, split, revision, cache_dir, where)
        if source.streaming:
            raw = _stream_rows(datasets, builder, split, source, columns, where, _declared_rows(listing, split, source))
        else:
            raw = _indexed_rows(datasets, builder, split, source, columns, where)
    return replace(
        raw,
        split=split if source.kind in ("hub", "imagefolder") else None,
        revision=revision,
        image_root=ImageRoot(image_root, not source.allow_paths_outside) if image_root is not None else None,
    )


def _import_datasets() -> Any:
    try:
        import datasets
    except ImportError as exc:
        raise InputError(
            "reading hub, parquet or imagefolder datasets needs the `datasets` package: pip install 'vlmperf[quality]'"
        ) from exc
    return datasets


def _builder_args(source: DatasetSource) -> tuple[dict[str, Any], Path | None]:
    """The `load_dataset_builder` arguments for the source's kind, and where relative image paths start."""
    location = Path(source.path).expanduser()
    if source.kind == "hub":
        if location.is_dir():
            return {"path": str(location), "name": source.name, "revision": source.revision}, location
        if location.exists() or not _HUB_ID.match(source.path):
            raise InputError(f"no dataset folder at {source.path} (and it is not a hub id like org/name)")
        return {"path": source.path, "name": source.name, "revision": source.revision}, None
    if source.kind == "imagefolder":
        if not location.is_dir():
            raise InputError(f"no image folder at {source.path}")
        return {"path": "imagefolder", "data_dir": str(location)}, location
    files = _parquet_files(source.path)
    root = Path(source.image_dir) if source.image_dir else (location if location.is_dir() else Path(files[0]).parent)
    return {"path": "parquet", "data_files": {"train": files}}, root


def _parquet_files(path: str) -> list[str]:
    location = Path(path).expanduser()
    if location.is_file():
        return [str(location)]
    if location.is_dir():
        files = sorted(str(p) for p in location.rglob("*.parquet"))
    else:
        files = sorted(glob.glob(str(location), recursive=True))
    if not files:
        raise InputError(f"no parquet files at {path}: give a .parquet file, a folder holding some, or a glob")
    return files


def _split_builder(
    datasets: Any,
    listing: Any,
    builder_args: dict[str, Any],
    split: str,
    revision: str | None,
    cache_dir: str | None,
    where: str,
) -> Any:
    """A builder over the chosen split's files only (the listing itself when it has no other split)."""
    data_files = listing.config.data_files or {}
    if len(data_files) <= 1 or split not in data_files:
        return listing
    args = {**builder_args, "data_files": {split: list(data_files[split])}}
    if listing.info.features is not None:  # given data_files, `datasets` drops the card's column types
        args["features"] = listing.info.features
    if "revision" in args:
        args["revision"] = revision  # the commit the listing resolved, so both read the same files
    try:
        return datasets.load_dataset_builder(**args, cache_dir=cache_dir)
    except (FileNotFoundError, ConnectionError, ValueError) as exc:
        raise InputError(f"cannot open split {split!r} of {where}: {exc}") from exc


def _pick_split(builder: Any, source: DatasetSource, where: str) -> str:
    """The split to read: the requested one if it exists, else the only one there is."""
    data_files = builder.config.data_files or {}
    splits = [str(name) for name in data_files]
    if source.kind == "parquet":
        return "train"
    if source.split is not None:
        if splits and source.split not in splits:
            raise InputError(f"{where} has no split {source.split!r}; its splits are: {', '.join(splits)}")
        return source.split
    if len(splits) == 1:
        return splits[0]
    raise InputError(f"{where} has several splits ({', '.join(splits) or 'none found'}); set split to one of them")


def _indexed_rows(
    datasets: Any, builder: Any, split: str, source: DatasetSource, columns: ColumnMap, where: str
) -> RawRows:
    """Prepare the split, then take the selected indices by random access."""
    try:
        builder.download_and_prepare()
        prepared = (builder.info.splits or {}).get(split)
        if prepared is not None and prepared.num_examples == 0:  # `datasets` refuses to open an empty split
            _require_rows(0, where, split)
        dataset = builder.as_dataset(split=split)
    except (FileNotFoundError, ConnectionError, ValueError, datasets.exceptions.DatasetGenerationError) as exc:
        raise InputError(f"cannot read split {split!r} of {where}: {exc}") from exc
    require_columns(columns, dataset.column_names, where)
    _require_rows(len(dataset), where, split)
    indices, selection = choose_indices(len(dataset), source.limit, source.seed, source.selection)
    subset = _undecoded(datasets, dataset, columns).select(indices)
    rows = list(zip(indices, subset, strict=True))
    return RawRows(rows, split, None, selection, len(dataset), None)


def _stream_rows(
    datasets: Any, builder: Any, split: str, source: DatasetSource, columns: ColumnMap, where: str, n: int | None
) -> RawRows:
    """Read the split as a stream; see `selection` for how a subset is chosen without random access.
    `n` is the split's length when known without reading it (`_declared_rows`)."""
    try:
        stream = builder.as_streaming_dataset(split=split)
    except (FileNotFoundError, ConnectionError, ValueError) as exc:
        raise InputError(f"cannot stream split {split!r} of {where}: {exc}") from exc
    if stream.column_names is not None:
        require_columns(columns, stream.column_names, where)
    rows = _checked(_undecoded(datasets, stream, columns), columns, where)
    if n is not None:
        _require_rows(n, where, split)
        indices, selection = choose_indices(n, source.limit, source.seed, source.selection)
        chosen = pick(rows, indices, where) if selection != "all" else first(rows, None)
    elif source.limit is None or source.selection == "first":
        chosen, selection = first(rows, source.limit), "first" if source.limit else "all"
    else:
        chosen, n = reservoir(rows, source.limit, source.seed)
        selection = "reservoir" if n > source.limit else "all"
    if not chosen:
        _require_rows(0, where, split)
    return RawRows(chosen, split, None, selection, n, None)


def _declared_rows(builder: Any, split: str, source: DatasetSource) -> int | None:
    """The split's length without reading it: the dataset card's count, or the parquet footers'."""
    if source.kind == "parquet":
        import pyarrow.parquet as pq

        return sum(pq.ParquetFile(path).metadata.num_rows for path in builder.config.data_files[split])
    splits = builder.info.splits or {}
    info = splits.get(split) if hasattr(splits, "get") else None
    return info.num_examples if info is not None and info.num_examples else None


def _checked(rows: Any, columns: ColumnMap, where: str) -> Iterator[dict[str, Any]]:
    """Check the mapped columns on the first row of a stream whose columns were not known up front."""
    for count, row in enumerate(rows):
        if count == 0:
            require_columns(columns, row.keys(), where)
        yield row


def _undecoded(datasets: Any, dataset: Any, columns: ColumnMap) -> Any:
    """Switch the image column to undecoded `{bytes, path}` cells so a broken image fails per row, here."""
    features = dataset.features
    feature = features.get(columns.image) if features and columns.image else None
    if feature is None:
        return dataset
    if isinstance(feature, datasets.Image):
        return dataset.cast_column(columns.image, datasets.Image(decode=False))
    inner = getattr(feature, "feature", None)
    if isinstance(inner, datasets.Image):  # a list of images per row
        return dataset.cast_column(columns.image, replace(feature, feature=datasets.Image(decode=False)))
    return dataset


def _require_rows(n: int, where: str, split: str) -> None:
    if n == 0:
        raise InputError(f"split {split!r} of {where} has no rows")


def _describe(source: DatasetSource) -> str:
    parts = [f"{source.kind} dataset {source.path!r}"]
    if source.name:
        parts.append(f"config {source.name!r}")
    if source.revision:
        parts.append(f"revision {source.revision!r}")
    return ", ".join(parts)


@contextlib.contextmanager
def _quiet(datasets: Any) -> Iterator[None]:
    """No tqdm bars from `datasets` while we load: the runner draws its own progress."""
    was_disabled = datasets.are_progress_bars_disabled()
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        if not was_disabled:
            datasets.enable_progress_bars()
