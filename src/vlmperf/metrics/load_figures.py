"""Figures of an endpoint cell as a whole: rates, errors, captions, who served it.

These are not distributions over requests but one figure per cell, reported as `{"value": ...}`
beside the per-request summaries:
- `requests`: measured requests (warm-up excluded), successful or not;
- `error_rate`: failed requests / requests, with `by_class` counts (`vlmperf.backends.endpoint.errors`);
- `offered_rate`: the scenario's rate (requests/s) for open-loop scenarios, else null;
- `achieved_rate`: successful requests / the window from the first start to the last end;
- `total_captions`: the sum of `captions_per_request` over the cell's successful requests;
- `served_by`: how many requests each provider answered (from the router's response header, or
  the provider the model id pinned when the header is absent: `served_by_source` says which);
- `client_bound`: true when the client, not the server, limited the measurement: the event loop
  ran late (p99 lag of its probe timer above 5 ms, `CLIENT_BOUND_S`), or, in an open loop without
  a concurrency cap, requests started late (p99 scheduler lateness above 5 ms; with a
  cap, lateness may be the server holding every slot, so it alone does not flag). `why` says which.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

from vlmperf.config.spec import Scenario
from vlmperf.metrics.definitions import Record, cell_figure
from vlmperf.metrics.summary_types import FigureValue

CLIENT_BOUND_S = 0.005

cell_figure("requests", "requests", "Measured requests (warm-up excluded), successful or not.", better=None)
cell_figure(
    "error_rate", "ratio", "Failed requests / requests, with `by_class` counts of each error class.", better="lower"
)
cell_figure("offered_rate", "1/s", "The scenario's request rate for open-loop scenarios, else null.", better=None)
cell_figure("achieved_rate", "1/s", "Successful requests / the window from the first start to the last end.")
cell_figure(
    "total_captions", "captions", "The sum of captions_per_request over the cell's successful requests.", better=None
)
cell_figure(
    "served_by",
    "requests",
    "How many requests each provider answered (router header, or the provider the model id pinned: `source`).",
    better=None,
)
cell_figure(
    "client_bound",
    "bool",
    "True when the client, not the server, limited the measurement (event-loop lag or scheduler lateness p99 "
    "above 5 ms; `why` says which).",
    better=None,
)


def client_bound(records: Sequence[Record], scenario: Scenario, loop_lag_s: Sequence[float]) -> FigureValue:
    """`{"value": bool, "why": [...]}`: did the client limit the measurement (see the module docstring)?"""
    why = []
    if loop_lag_s and (lag := float(np.percentile(loop_lag_s, 99))) > CLIENT_BOUND_S:
        why.append(f"event-loop lag p99 {lag * 1e3:.1f} ms")
    if scenario.kind == "rate" and scenario.concurrency is None and records:
        lateness = float(np.percentile([r["started_s"] - r["scheduled_s"] for r in records], 99))
        if lateness > CLIENT_BOUND_S:
            why.append(f"scheduler lateness p99 {lateness * 1e3:.1f} ms")
    return {"value": bool(why), "why": why}


def load_figures(
    records: Sequence[Record], scenario: Scenario, loop_lag_s: Sequence[float] = ()
) -> dict[str, FigureValue]:
    """The cell-level figures of an endpoint cell's records (see the module docstring)."""
    if not records:
        return {}
    failed = [r["error"]["class"] for r in records if r["error"] is not None]
    ok = [r for r in records if r["error"] is None]
    window = max(r["started_s"] + r["end_s"] for r in records) - min(r["started_s"] for r in records)
    captions = [c for r in ok for c in (r.get("captions") or [])]
    figures: dict[str, FigureValue] = {
        "requests": {"value": len(records)},
        "error_rate": {"value": len(failed) / len(records), "by_class": dict(Counter(failed))},
        "offered_rate": {"value": scenario.rate if scenario.kind == "rate" else None},
        "achieved_rate": {"value": len(ok) / window if window > 0 else None},
        "client_bound": client_bound(records, scenario, loop_lag_s),
    }
    if captions:
        figures["total_captions"] = {"value": sum(captions)}
    served = Counter(r["served_by"] for r in records if r.get("served_by"))
    if served:
        sources = sorted({r["served_by_source"] for r in records if r.get("served_by_source")})
        figures["served_by"] = {"value": dict(served), "source": ",".join(sources)}
    return figures
