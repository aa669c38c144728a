"""What loading a dataset subset gives back: the samples, the rows that failed, and where they came from.

Provenance is part of the result, not a log line, because every quality figure must name its
subset (dataset, revision, split, seed and the exact row indices): figures on different subsets
are never compared, and a stored run can be re-scored on the very same rows.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Any

from vlmperf.workloads.sample import Sample


@dataclass(frozen=True)
class FailedSample:
    """A selected row that could not become a sample (an undecodable image, an unusable reference).

    It is returned, not raised, so the runner records it as a failed sample with its id and the
    run goes on. `id` is the row's id, or `row-<index>` when the id itself is unreadable.
    """

    id: str
    index: int
    reason: str


@dataclass(frozen=True)
class Provenance:
    """Which rows were used, precisely enough to take the same rows again.

    `path` is the dataset actually read: a preset that fell back to a former hub id records that
    id here, and `requested_path` keeps the one asked for first (they are equal otherwise).
    `revision` is the commit the hub resolved the request to when `datasets` tells it, else the
    requested revision (`requested_revision` keeps what was asked). `selection` says how the rows
    were chosen: `all`, `random` (sorted `random.Random(seed).sample(range(n), limit)`), `first`
    (the first `limit` rows) or `reservoir` (a seeded reservoir sample over a stream of unknown
    length). `indices` are the selected row positions in the split, in ascending order.
    """

    kind: str
    path: str
    requested_path: str
    name: str | None
    split: str | None
    requested_revision: str | None
    revision: str | None
    streaming: bool
    seed: int
    limit: int | None
    selection: str
    indices: tuple[int, ...]
    n_available: int | None

    @property
    def subset_id(self) -> str:
        """A short stable hash of the dataset, revision, split and indices: equal ids, equal rows."""
        key = [self.kind, self.path, self.name, self.split, self.revision, list(self.indices)]
        return hashlib.sha256(json.dumps(key).encode()).hexdigest()[:12]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict for the run manifest (indices as a list)."""
        data = asdict(self)
        data["indices"] = list(self.indices)
        data["subset_id"] = self.subset_id
        return data


@dataclass(frozen=True)
class LoadedSubset:
    """Samples in row order with images decoded, the failed rows, and the subset's provenance."""

    samples: list[Sample]
    failed: list[FailedSample]
    provenance: Provenance
