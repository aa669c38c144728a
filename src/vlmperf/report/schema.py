"""The public JSON form of a stored run (what `vlmperf report --format json` prints).

`{"run": {"id", "created", "name", "status", "manifest", "unfinished_cells"},
  "cells": [{"id", "config", "swept", "status", "error", "metrics", "stability", "info"}]}` where
`config` holds the resolved configuration as flat dotted keys, `metrics` maps each metric name to its
summary (`p50 p90 p99 mean min max std n ci95`) and `stability` says how far the figures can be
trusted (`metrics.stability`: the main latency's variation, CPU contention, GPU throttling, and its
`flags`; null for a cell stored before it was kept, or failed before it was measured). Only finished
cells (`ok` or `failed`) are listed; a run cut short names the others in `unfinished_cells`. A run
with damaged rows in its store (a cell whose blobs are not JSON, ...) lists them, skipped, in
`skipped_rows` (the key is there only then).
"""

from __future__ import annotations

from typing import Any

from vlmperf.store.sqlite import Store

FINISHED = ("ok", "failed")


def run_document(store: Store, run_id: str) -> dict[str, Any]:
    before = len(store.skipped)
    run = store.run(run_id)
    cells = store.cells(run.id)
    document = {
        "run": {
            "id": run.id,
            "created": run.created,
            "name": run.name,
            "status": run.status,
            "manifest": run.manifest,
            "unfinished_cells": [c["id"] for c in cells if c["status"] not in FINISHED],
        },
        "cells": [
            {
                "id": c["id"],
                "config": c["config"],
                "swept": c["swept"],
                "status": c["status"],
                "error": c["error"],
                "metrics": c["metrics"],
                "stability": (c["info"] or {}).get("stability"),
                "info": {k: v for k, v in (c["info"] or {}).items() if k != "stability"},
            }
            for c in cells
            if c["status"] in FINISHED
        ],
    }
    if skipped := store.skipped[before:]:
        document["skipped_rows"] = skipped
    return document
