"""Each run keeps its time budget: where its wall time went, and the share outside load, warm-up and timing."""

from __future__ import annotations

import pytest

import vlmperf.api as vp
from vlmperf.report.render import render_markdown, render_table
from vlmperf.report.time_budget import PHASES, time_budget

QUICK = [
    "measure.min_runs=2",
    "measure.warmup_runs=1",
    "measure.min_duration_s=0",
    "generation.max_new_tokens=3",
    "workload.limit=2",
    "workload.task=vqa",
    "sweep.grid.scenario.batch_size=[1, 2]",
]


def _document(cells, **manifest):
    return {"run": {"manifest": manifest}, "cells": [{"info": {"time_s": c}} for c in cells]}


def test_the_budget_sums_the_cells_passes_and_names_the_rest():
    cells = [
        {
            "load": 4.0,
            "idle_power": 2.0,
            "warm_up": 1.0,
            "timed": 10.0,
            "flop_pass": 1.0,
            "profile": 0.0,
            "scoring": 0.5,
        },
        {
            "load": 0.0,
            "idle_power": 0.0,
            "warm_up": 1.0,
            "timed": 10.0,
            "flop_pass": 0.0,
            "profile": 0.0,
            "scoring": 0.5,
        },
    ]
    budget = time_budget(_document(cells, wall_s=31.0, report_s=1.0))
    phases = budget["phases"]
    assert phases["load"] == 4.0 and phases["timed"] == 20.0 and phases["scoring"] == 1.0
    assert phases["harness"] == pytest.approx(31.0 - 30.0), "what no pass accounts for"
    assert phases["report"] == 1.0
    assert budget["total_s"] == 32.0
    # outside load (4), warm-up (2) and timed (20): idle 2 + flops 1 + scoring 1 + harness 1 + report 1
    assert budget["outside_s"] == pytest.approx(6.0)
    assert budget["outside_share"] == pytest.approx(6.0 / 32.0)


def test_parallel_cells_can_book_more_than_the_wall_clock():
    cells = [{"timed": 10.0}, {"timed": 10.0}]  # two Ray workers side by side
    budget = time_budget(_document(cells, wall_s=12.0))
    assert budget["phases"]["harness"] == 0.0 and budget["total_s"] == 20.0


def test_a_run_stored_before_budgets_has_none():
    assert time_budget(_document([{}])) is None


def test_a_real_run_books_every_pass_and_its_wall_time(results_dir):
    cache = results_dir
    outcome = vp.run(overrides=QUICK, out=cache)
    assert outcome.failed == 0
    document = vp.report(outcome.run_id, out=cache)
    cells = document["cells"]
    booked = [cell["info"]["time_s"] for cell in cells]
    assert all(set(PHASES) == set(times) for times in booked)
    assert sum(t["load"] > 0 for t in booked) == 1, "the group's one load is booked once, on its first cell"
    assert all(t["warm_up"] > 0 and t["timed"] > 0 and t["scoring"] >= 0 for t in booked)
    assert sum(t["flop_pass"] > 0 for t in booked) == 1, "one counting pass for the loaded model (the cross-check)"
    wall = document["run"]["manifest"]["wall_s"]
    assert sum(sum(t.values()) for t in booked) <= wall
    budget = time_budget(document)
    assert 0 < budget["outside_share"] < 1
    assert "time budget" in render_table(document) and "outside load, warm-up, timed" in render_markdown(document)
    # a resumed run adds its own wall time to the stored one
    again = vp.run(overrides=QUICK, out=cache, resume=True)
    assert again.run_id == outcome.run_id
    assert vp.report(outcome.run_id, out=cache)["run"]["manifest"]["wall_s"] > wall
