"""Figures of an endpoint cell as a whole: rates, errors, captions, who served it.

These are not distributions over requests but one figure per cell, reported as `{"value": ...}`
beside the per-request summaries:
- `requests`: measured requests (warm-up excluded), successful or not;
- `error_rate`: failed requests / requests, with `by_class` counts (`vlmperf.backends.endpoint.errors`);
- `offered_rate`: the scenario's rate (requests/s) for open-loop scenarios, else null;
- `achieved_rate`: successful requests / the window from the first start to the last end;
- `total_captions`: the sum of `captions_per_request` over the cell's successful requests;
- `served_by`: how many requests each provider answered (from the router's response header, or
  the provider the model id pinned when the header is absent: `served_by_source` says which).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from vlmperf.config.spec import Scenario
from vlmperf.metrics.definitions import Record


def load_figures(records: Sequence[Record], scenario: Scenario) -> dict[str, Any]:
    """The cell-level figures of an endpoint cell's records (see the module docstring)."""
    if not records:
        return {}
    failed = [r["error"]["class"] for r in records if r["error"] is not None]
    ok = [r for r in records if r["error"] is None]
    window = max(r["started_s"] + r["end_s"] for r in records) - min(r["started_s"] for r in records)
    captions = [c for r in ok for c in (r.get("captions") or [])]
    figures: dict[str, Any] = {
        "requests": {"value": len(records)},
        "error_rate": {"value": len(failed) / len(records), "by_class": dict(Counter(failed))},
        "offered_rate": {"value": scenario.rate if scenario.kind == "rate" else None},
        "achieved_rate": {"value": len(ok) / window if window > 0 else None},
    }
    if captions:
        figures["total_captions"] = {"value": sum(captions)}
    served = Counter(r["served_by"] for r in records if r.get("served_by"))
    if served:
        sources = sorted({r["served_by_source"] for r in records if r.get("served_by_source")})
        figures["served_by"] = {"value": dict(served), "source": ",".join(sources)}
    return figures
