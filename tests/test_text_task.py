"""The `text` task: text-only prompts for text models, responses counted as caption lists."""

from __future__ import annotations

import json

import pytest

import vlmperf.api as vp
from vlmperf.config.spec import Workload
from vlmperf.metrics.caption_list import count_captions
from vlmperf.workloads.builtin import load_builtin_samples
from vlmperf.workloads.sources import load_workload
from vlmperf.workloads.tasks import get_task

QUICK = [
    "measure.min_runs=2",
    "measure.warmup_runs=0",
    "measure.min_duration_s=0",
    "generation.max_new_tokens=12",
    "workload.task=text",
    "workload.limit=4",
    "sweep.grid.scenario.batch_size=[1, 2]",
]


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("VLMPERF_CACHE", str(tmp_path / "cache"))


@pytest.fixture
def prompts_file(tmp_path):
    """A jsonl dataset of text prompts, each with one reference answer."""
    rows = [
        {"id": f"p{i}", "text": f"Repeat after me: the number {i} is small.", "reference": f"the number {i} is small"}
        for i in range(4)
    ]
    path = tmp_path / "prompts.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def test_builtin_samples_lose_their_images_and_ask_for_captions_of_their_scene():
    samples = load_workload(Workload(task="text", limit=3)).samples
    originals = load_builtin_samples(limit=3)
    assert [s.images for s in samples] == [(), (), ()]
    for sample, original in zip(samples, originals, strict=True):
        prompt = get_task("text").prompt_for(sample)
        assert original.references.captions[0] in prompt
        assert "3 different one-sentence captions" in prompt


def test_a_prompts_dataset_fills_the_text_field_and_a_single_reference(prompts_file):
    workload = Workload(
        task="text",
        source="dataset",
        dataset={"kind": "jsonl", "path": str(prompts_file)},
        prompt="{text}",
        limit=4,
    )
    samples = load_workload(workload).samples
    by_id = {s.id: s for s in samples}
    assert get_task("text").prompt_for(by_id["p2"], "{text}") == "Repeat after me: the number 2 is small."
    assert by_id["p2"].references.captions == ("the number 2 is small",)


def _captions_match_outputs(out, run_id):
    records = vp.records_frame(run_id, out=out)
    for outputs, captions in zip(records["outputs"], records["captions"], strict=True):
        assert list(captions) == [count_captions(text) for text in outputs]


@pytest.mark.slow
def test_a_text_model_runs_the_text_task_in_a_sweep(text_model_dir, tmp_path):
    out = tmp_path / "results"
    outcome = vp.run(overrides=[*QUICK, f"target.model={text_model_dir}"], out=out)
    assert (outcome.cells, outcome.failed) == (2, 0)
    document = vp.report(outcome.run_id, out=out)
    for cell in document["cells"]:
        metrics = cell["metrics"]
        assert {"captions_per_request", "output_chars", "output_words", "latency_s"} <= set(metrics)
        assert metrics["vision_tokens"]["max"] == 0
        # the built-in photos have 3 captions each: wer and cer score against the first, as jiwer would
        assert {"wer", "cer"} <= set(metrics)
        assert cell["info"]["quality"]["implementation"]["wer"]["reference"].startswith("each sample's first reference")
    _captions_match_outputs(out, outcome.run_id)


@pytest.mark.slow
def test_a_prompts_dataset_with_references_is_scored_with_wer_and_cer(text_model_dir, prompts_file, tmp_path):
    out = tmp_path / "results"
    dataset = f"workload.dataset={{kind: jsonl, path: {prompts_file}}}"
    overrides = [
        *QUICK,
        f"target.model={text_model_dir}",
        "workload.source=dataset",
        dataset,
        "workload.prompt='{text}'",
    ]
    outcome = vp.run(overrides=overrides, out=out)
    document = vp.report(outcome.run_id, out=out)
    for cell in document["cells"]:
        assert {"wer", "cer", "captions_per_request"} <= set(cell["metrics"])
        assert cell["info"]["quality"]["task"] == "text"
        assert cell["info"]["prompt_template"] == "{text}"


@pytest.mark.slow
def test_a_vision_language_model_answers_the_text_task_without_images(tmp_path):
    out = tmp_path / "results"
    outcome = vp.run(overrides=[*QUICK, "sweep.grid.scenario.batch_size=[2]"], out=out)
    (cell,) = vp.report(outcome.run_id, out=out)["cells"]
    assert cell["status"] == "ok", cell.get("error")
    assert cell["metrics"]["vision_tokens"]["max"] == 0
    assert cell["metrics"]["captions_per_request"]["n"] == 4
