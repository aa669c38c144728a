"""The Python API a notebook uses: run a config, get the document and DataFrames back."""

from __future__ import annotations

import itertools

import pytest

import vlmperf.api as vp
from vlmperf.errors import InputError

QUICK = [
    "measure.min_runs=2",
    "measure.warmup_runs=0",
    "measure.min_duration_s=0",
    "generation.max_new_tokens=3",
    "workload.limit=3",
    "sweep.grid.scenario.batch_size=[1, 3]",
]


@pytest.mark.slow
def test_run_report_and_frames(tmp_path, monkeypatch):
    pandas = pytest.importorskip("pandas")
    monkeypatch.setenv("VLMPERF_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "results"
    outcome = vp.run(overrides=QUICK, out=out)
    assert (outcome.status, outcome.cells, outcome.failed) == ("complete", 2, 0)
    document = vp.report(outcome.run_id, out=out)
    assert [c["config"]["scenario.batch_size"] for c in document["cells"]] == [1, 3]
    cells = vp.cells_frame(out=out)
    assert isinstance(cells, pandas.DataFrame) and len(cells) == 2
    assert list(cells["latency_s.n"]) == [3, 2], "batch 1 runs until all 3 samples were answered"
    records = vp.records_frame(outcome.run_id, out=out)
    assert len(records) == 5
    assert set(records["batch_size"]) == {1, 3}
    three = records[records["batch_size"] == 3].iloc[0]
    assert three["sample_ids"] == ["astronaut", "chelsea", "coffee"], "batches take the samples in order"
    assert len(three["outputs"]) == 3 and all(isinstance(text, str) for text in three["outputs"])


@pytest.mark.slow
def test_resume_without_a_matching_run_starts_a_new_one(tmp_path, monkeypatch):
    monkeypatch.setenv("VLMPERF_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "results"
    first = vp.run(overrides=QUICK, out=out, resume=True)
    second = vp.run(overrides=QUICK, out=out, resume=True)
    assert first.run_id == second.run_id, "the same plan resumes the same run"
    assert (second.skipped, second.status) == (2, "complete")
    other = vp.run(overrides=[*QUICK, "generation.max_new_tokens=4"], out=out, resume=True)
    assert other.run_id != first.run_id, "a different plan is a different run"


def test_reading_a_store_that_does_not_exist_says_what_to_do(tmp_path):
    with pytest.raises(InputError, match="vlmperf run"):
        vp.report(out=tmp_path / "nothing-here")


@pytest.mark.slow
def test_resume_extends_a_sweep_without_measuring_finished_cells_again(tmp_path, monkeypatch):
    monkeypatch.setenv("VLMPERF_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "results"
    first = vp.run(overrides=QUICK, out=out)
    extended = vp.run(overrides=[*QUICK, "sweep.grid.scenario.batch_size=[1, 3, 2]"], out=out, resume=True)
    assert extended.resumed and extended.run_id == first.run_id
    assert (extended.cells, extended.skipped) == (3, 2)
    document = vp.report(first.run_id, out=out)
    assert sorted(c["config"]["scenario.batch_size"] for c in document["cells"]) == [1, 2, 3]
    assert len(document["run"]["manifest"]["resumed"]) == 1, "the resuming invocation's environment is recorded"


@pytest.mark.slow
def test_cells_sharing_a_target_share_one_loaded_model(tmp_path, monkeypatch):
    import vlmperf.backends.local.group as group

    monkeypatch.setenv("VLMPERF_CACHE", str(tmp_path / "cache"))
    loads = []
    real_load = group.load_model
    monkeypatch.setattr(group, "load_model", lambda target: loads.append(target.dtype) or real_load(target))
    outcome = vp.run(overrides=[*QUICK, "sweep.grid.target.dtype=[fp32, bf16]"], out=tmp_path / "results")
    assert (outcome.cells, outcome.failed) == (4, 0)
    assert loads == ["fp32", "bf16"], "one load per target, none per batch size"


@pytest.mark.parametrize("interleave", [True, False])
@pytest.mark.slow
def test_cells_sharing_a_model_are_interleaved_in_random_order_unless_told_not_to(tmp_path, monkeypatch, interleave):
    monkeypatch.setenv("VLMPERF_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "results"
    overrides = [*QUICK, "measure.min_runs=6", f"interleave={str(interleave).lower()}"]
    outcome = vp.run(overrides=overrides, out=out)
    records = vp.records_frame(outcome.run_id, out=out).sort_values("started_unix_s")
    order = list(records["batch_size"])
    switches = sum(a != b for a, b in itertools.pairwise(order))
    assert sorted(order) == [1] * 6 + [3] * 6
    if interleave:
        assert switches >= 3, f"runs of the two cells alternate: {order}"
    else:
        assert switches == 1, f"one cell after the other: {order}"
