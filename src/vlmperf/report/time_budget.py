"""Where a run's wall time went: loading, warming up and measuring, against everything else.

A sweep's time should be spent measuring. Each cell's info keeps the wall time of its passes
(`info.time_s`): the model's load and the idle-power window (one-off costs of a group of cells
sharing a loaded model, booked on the group's first cell), warm-up, the timed windows (with the
preparation of their batches and the storing of their records; an endpoint group's whole drive,
warm-up included, on its first cell), the FLOP counting pass, the stage replays (CUDA only,
`backends.local.after_window.stages_in_window`), the profile pass and quality scoring. The run's manifest keeps
the wall time of the measuring (`wall_s`, from the start of the sweep to its end, summed over
resumed attempts) and of writing the HTML report (`report_s`).
`harness` is what no pass accounts for: planning groups, starting executors, summarising.

The figure that matters is the share of the run's wall time outside load, warm-up and the timed
windows: what vlmperf spends on its own bookkeeping and secondary passes.
"""

from __future__ import annotations

from typing import Any

PHASES = ("load", "warm_up", "timed", "flop_pass", "stage_pass", "profile", "idle_power", "scoring")
"""The passes a cell books, in the order a run makes them."""
MEASURING = ("load", "warm_up", "timed")
"""What a measurement cannot do without: the rest is the harness's own time."""


def time_budget(document: dict[str, Any]) -> dict[str, Any] | None:
    """`{"phases": {name: seconds}, "total_s", "outside_s", "outside_share"}` of a run document, None
    for a run stored before time budgets were kept (no `wall_s` in its manifest)."""
    manifest = document["run"]["manifest"]
    wall = manifest.get("wall_s")
    if wall is None:
        return None
    phases = {name: 0.0 for name in PHASES}
    for cell in document["cells"]:
        for name, seconds in ((cell.get("info") or {}).get("time_s") or {}).items():
            phases[name] = phases.get(name, 0.0) + seconds
    # parallel executors (Ray) can book more cell time than the wall clock saw: the harness is then 0
    phases["harness"] = max(wall - sum(phases.values()), 0.0)
    phases["report"] = manifest.get("report_s", 0.0)
    total = max(wall + phases["report"], sum(phases.values()))
    outside = total - sum(phases[name] for name in MEASURING)
    share = outside / total if total else None
    return {"phases": phases, "total_s": total, "outside_s": outside, "outside_share": share}


def budget_rows(budget: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(phase, seconds, share of the run) rows, then the total and the share outside measuring."""
    total = budget["total_s"]
    rows = [
        (name, f"{seconds:.2f}", f"{seconds / total:.1%}" if total else "-")
        for name, seconds in budget["phases"].items()
    ]
    rows.append(("total", f"{total:.2f}", "100.0%" if total else "-"))
    share = budget["outside_share"]
    shown = "-" if share is None else f"{share:.1%}"
    rows.append(("outside load, warm-up, timed", f"{budget['outside_s']:.2f}", shown))
    return rows
