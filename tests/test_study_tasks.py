"""The study's tasks end to end: a sweep with the built-in model over hub-layout parquet fixtures,
scored on the same outputs as its speed, with the subset and failed samples recorded."""

from __future__ import annotations

from pathlib import Path

import pytest

import vlmperf.api as vp

from fixtures import hub_datasets as fx

QUICK = [
    "measure.min_runs=2",
    "measure.warmup_runs=0",
    "measure.min_duration_s=0",
    "generation.max_new_tokens=4",
    "workload.source=dataset",
    "workload.limit=6",
    "sweep.grid.scenario.batch_size=[1, 3]",
]


@pytest.fixture(scope="module")
def repos(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("repos")
    return {
        "coco-caption": fx.build_coco_caption2017(root / "coco"),
        "textvqa": fx.build_textvqa(root / "textvqa"),
        "scienceqa-img": fx.build_scienceqa(root / "scienceqa"),
    }


@pytest.fixture(autouse=True)
def caches(tmp_path, monkeypatch):
    monkeypatch.setenv("VLMPERF_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "datasets"))


STUDY = {
    "coco-caption": ("{kind: hub, path: %s, split: val}", {"cider", "bleu_4", "meteor", "rouge_l", "wer"}),
    "textvqa": ("{kind: hub, path: %s, split: validation}", {"vqa_accuracy", "any_answer_match"}),
    "scienceqa-img": (
        "{kind: hub, path: %s, name: ScienceQA-IMG, split: test}",
        {"mcq_accuracy", "parse_failure_rate"},
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("task", list(STUDY))
def test_each_study_task_runs_in_a_sweep_with_quality_beside_speed(task, repos, tmp_path):
    dataset, metrics = STUDY[task]
    out = tmp_path / "results"
    overrides = [*QUICK, f"workload.task={task}", f"workload.dataset={dataset % repos[task]}"]
    if task == "textvqa":
        overrides.append("workload.ocr_tokens=true")
    outcome = vp.run(overrides=overrides, out=out)
    assert (outcome.cells, outcome.failed) == (2, 0)
    document = vp.report(outcome.run_id, out=out)
    (provenance,) = document["run"]["manifest"]["datasets"]
    assert len(provenance["indices"]) == 6 and provenance["seed"] == 0
    for cell in document["cells"]:
        assert cell["status"] == "ok"
        assert metrics <= set(cell["metrics"]), f"{task} quality sits beside speed"
        assert "latency_s" in cell["metrics"]
        assert cell["info"]["dataset"]["indices"] == provenance["indices"], "every figure names its subset"
        assert cell["info"]["quality"]["task"] == task
        assert cell["info"]["prompt_hash"]
    failed = document["cells"][0]["info"]["failed_samples"]
    if task == "textvqa" and fx.TEXTVQA_CORRUPT_ROW in provenance["indices"]:
        assert [f["index"] for f in failed] == [fx.TEXTVQA_CORRUPT_ROW], "the corrupt image is a failed sample"


def test_study_prompts_follow_lmms_eval():
    from vlmperf.workloads.sample import References, Sample
    from vlmperf.workloads.tasks import get_task

    mcq = Sample("s", (), References(question="Which is a mammal?", choices=("cat", "fish")), {"hint": "Animals."})
    assert get_task("scienceqa-img").prompt_for(mcq) == (
        "Context: Animals.\nWhich is a mammal?\nA. cat\nB. fish\n"
        "Answer with the option's letter from the given choices directly."
    )
    vqa = Sample("v", (), References(question="what brand is it?"), {"ocr_tokens": ["acme", "co"]})
    assert get_task("textvqa").prompt_for(vqa, ocr=True) == (
        "What brand is it?\nReference OCR token: acme, co\nAnswer the question using a single word or phrase."
    )
    assert (
        get_task("textvqa").prompt_for(vqa) == "What brand is it?\nAnswer the question using a single word or phrase."
    )
    assert get_task("coco-caption").prompt_for(mcq) == "Provide a one-sentence caption for the provided image."
