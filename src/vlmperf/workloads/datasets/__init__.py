"""Dataset sources beyond the built-in samples: the Hugging Face Hub, parquet, jsonl + images, image folders.

`load_dataset_samples(source, columns)` returns decoded samples, the rows that failed (an image
that does not decode is recorded, not fatal) and the subset's provenance (revision, split, seed,
indices) that every quality figure must carry. `PRESETS` holds the study's datasets as lmms-eval
reads them. Importing this package does not import `datasets`; loading does.
"""

from vlmperf.workloads.datasets.load import load_dataset_samples
from vlmperf.workloads.datasets.presets import GENERIC_COLUMNS, PRESETS, DatasetPreset, get_preset
from vlmperf.workloads.datasets.result import FailedSample, LoadedSubset, Provenance
from vlmperf.workloads.datasets.spec import ColumnMap, DatasetSource

__all__ = [
    "GENERIC_COLUMNS",
    "PRESETS",
    "ColumnMap",
    "DatasetPreset",
    "DatasetSource",
    "FailedSample",
    "LoadedSubset",
    "Provenance",
    "get_preset",
    "load_dataset_samples",
]
