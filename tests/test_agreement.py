"""agreement_vs_reference: the share of samples whose output equals the reference cell's."""

from __future__ import annotations

import pytest

import vlmperf.api as vp
from vlmperf.config.loader import load_run_spec
from vlmperf.errors import ConfigError
from vlmperf.runner.agreement import agreement, reference_cells
from vlmperf.runner.plan import expand
from vlmperf.store.outputs import first_outputs

from fixtures.summary_shapes import assert_declared

QUICK = [
    "measure.min_runs=4",
    "measure.warmup_runs=0",
    "measure.min_duration_s=0",
    "generation.max_new_tokens=6",
    "workload.task=vqa",
    "workload.limit=4",
    "sweep.grid.scenario.batch_size=[1, 2]",
]


def test_agreement_is_the_share_of_identical_outputs_over_common_samples():
    result = agreement({"a": "x", "b": "y", "c": "z", "d": "w"}, {"a": "x", "b": "n", "c": "z", "e": "q"})
    assert result["value"] == pytest.approx(2 / 3) and result["n"] == 3
    assert agreement({"a": "x"}, {"b": "x"}) is None


def test_first_outputs_keep_each_samples_first_answer():
    records = [
        {"seq": 1, "sample_ids": ["a", "c"], "outputs": ["later a", "c"]},
        {"seq": 0, "sample_ids": ["a", "b"], "outputs": ["first a", "b"]},
    ]
    assert first_outputs(records, "test") == {"a": "first a", "b": "b", "c": "c"}


def test_each_cell_is_compared_with_its_counterpart_at_the_reference_setting():
    cells = expand(load_run_spec(None, [*QUICK, "sweep.grid.target.dtype=[fp32, bf16]"]))
    pairs = reference_cells(cells, {"scenario.batch_size": 1}, "x")
    assert len(pairs) == 4
    for cell in cells:
        reference = pairs[cell.id]
        assert reference.config["scenario.batch_size"] == 1
        assert reference.config["target.dtype"] == cell.config["target.dtype"], "same everything but the reference keys"
    with pytest.raises(ConfigError, match="matches no cell"):
        reference_cells(cells, {"scenario.batch_size": 8}, "x")


@pytest.mark.slow
def test_a_run_reports_agreement_with_its_reference_cell(tmp_path, monkeypatch):
    monkeypatch.setenv("VLMPERF_CACHE", str(tmp_path / "cache"))
    overrides = [
        *QUICK,
        "sweep.grid.target.dtype=[fp32, bf16]",
        "reference={target.dtype: fp32, scenario.batch_size: 1}",
    ]
    outcome = vp.run(overrides=overrides, out=tmp_path / "results")
    document = vp.report(outcome.run_id, out=tmp_path / "results")
    for cell in document["cells"]:
        assert_declared(cell["metrics"], cell["id"])
    cells = {
        (c["config"]["target.dtype"], c["config"]["scenario.batch_size"]): c["metrics"]["agreement_vs_reference"]
        for c in document["cells"]
    }
    assert cells[("fp32", 1)]["value"] == 1.0
    assert cells[("fp32", 2)]["value"] == 1.0, "fp32 greedy batching does not change answers"
    assert 0.0 <= cells[("bf16", 1)]["value"] <= 1.0
    assert all(c["n"] == 4 and c["reference_cell"] == cells[("fp32", 1)]["reference_cell"] for c in cells.values())
