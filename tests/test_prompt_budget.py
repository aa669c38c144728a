"""workload.max_input_len cuts what the task lets be cut (ScienceQA: the context first, then the
question), never the choices or the instruction, records what it cut, and refuses a budget that
could only be met by cutting those (a cell leaves such samples out and names them); a plain string
prompt is still cut at its end."""

from __future__ import annotations

import pytest

from vlmperf.backends.local.inputs import prepare_batch
from vlmperf.backends.local.prompt_budget import fit_prompt, within_budget
from vlmperf.config.spec import Workload
from vlmperf.errors import InputError
from vlmperf.workloads.sample import References, Sample
from vlmperf.workloads.sources import load_samples
from vlmperf.workloads.tasks import get_task

INSTRUCTION = "Answer with the option's letter from the given choices directly."
# Words the tiny model's stand-in tokenizer knows, so a cut field decodes back to its own words.
NUMBERS = ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")
HINT = " ".join(f"the picture shows {n} red squares beside the tree" for n in NUMBERS)
QUESTION = "Which of these things is in the picture on the left side of the road near the tree?"
CHOICES = ("red", "green", "blue", "yellow")


@pytest.fixture(scope="module")
def sample():
    (photo,) = load_samples(Workload(limit=1))
    return Sample("sqa-1", photo.images, References(question=QUESTION, choices=CHOICES, answer_index=0), {"hint": HINT})


def count(tiny_llava, text: str) -> int:
    return len(tiny_llava.tokenizer(text, add_special_tokens=False)["input_ids"])


def fitted(tiny_llava, sample, budget):
    """The prompt, the prepared batch, and the text sent (before the chat template)."""
    prompt = get_task("scienceqa-img").prompt_parts_for(sample)
    batch = prepare_batch(tiny_llava, [sample], [prompt], max_input_len=budget, device="cpu")
    return prompt, batch, fit_prompt(tiny_llava.tokenizer, prompt, budget, sample.id).text


def test_the_context_is_cut_first_and_the_choices_and_instruction_stay(tiny_llava, sample):
    prompt, full_batch, _ = fitted(tiny_llava, sample, None)
    full = count(tiny_llava, prompt.text)
    without_context = count(tiny_llava, prompt.with_body("context", "").text)
    budget = (full + without_context) // 2  # met by cutting part of the context
    _, batch, text = fitted(tiny_llava, sample, budget)
    assert batch.truncated_fields == [["context"]]
    assert text.startswith("Context: the picture shows one red squares") and "ten red squares" not in text
    assert QUESTION in text and text.endswith("A. red\nB. green\nC. blue\nD. yellow\n" + INSTRUCTION)
    cut = full_batch.input_tokens[0] - batch.input_tokens[0]
    assert batch.truncated_tokens == [cut] and 0 < cut <= full - budget + 2, "the metric counts the tokens cut"
    assert count(tiny_llava, prompt.with_body("context", "").text) < budget


def test_then_the_question_from_its_end_once_the_context_is_gone(tiny_llava, sample):
    prompt, full_batch, _ = fitted(tiny_llava, sample, None)
    without_context = count(tiny_llava, prompt.with_body("context", "").text)
    _, batch, text = fitted(tiny_llava, sample, without_context - 5)
    assert batch.truncated_fields == [["context", "question"]]
    assert "Context" not in text and "red squares" not in text, "an emptied context takes its label with it"
    assert text.startswith("Which of these things") and QUESTION not in text
    assert text.endswith("A. red\nB. green\nC. blue\nD. yellow\n" + INSTRUCTION)
    assert batch.truncated_tokens == [full_batch.input_tokens[0] - batch.input_tokens[0]]


def test_a_budget_only_met_by_cutting_choices_or_instruction_is_refused_with_the_budget_that_fits(tiny_llava, sample):
    prompt = get_task("scienceqa-img").prompt_parts_for(sample)
    floor = count(tiny_llava, prompt.with_body("context", "").with_body("question", "").text)
    with pytest.raises(InputError, match=rf"sample 'sqa-1'.*never cut.*raise max_input_len to {floor} or more"):
        fitted(tiny_llava, sample, floor - 1)
    _, batch, text = fitted(tiny_llava, sample, floor)
    assert batch.truncated_fields == [["context", "question"]] and INSTRUCTION in text


def test_a_cell_leaves_out_the_samples_that_cannot_fit_and_names_the_budget_each_needs(tiny_llava, sample):
    task = get_task("scienceqa-img")
    short = Sample("short", sample.images, References(question="Which?", choices=("red", "blue"), answer_index=0), {})
    prompts = {s.id: task.prompt_parts_for(s) for s in (sample, short)}
    floor = count(tiny_llava, prompts["sqa-1"].with_body("context", "").with_body("question", "").text)
    fits_short = count(tiny_llava, prompts["short"].text)
    assert fits_short < floor, "the short sample fits a budget the long one cannot meet"
    kept, over = within_budget(tiny_llava.tokenizer, [sample, short], prompts, floor - 1)
    assert [s.id for s in kept] == ["short"] and over == {"sqa-1": floor}
    assert within_budget(tiny_llava.tokenizer, [sample, short], prompts, None) == ([sample, short], {})
    short_floor = count(tiny_llava, prompts["short"].with_body("question", "").text)  # the smallest of all
    message = rf"fits workload.max_input_len 1 .*never cut.*raise it to {short_floor} or more"
    with pytest.raises(InputError, match=message):
        within_budget(tiny_llava.tokenizer, [sample, short], prompts, 1)


def test_a_prompt_that_fits_is_not_touched_and_records_nothing_cut(tiny_llava, sample):
    prompt, batch, _ = fitted(tiny_llava, sample, 10_000)
    assert batch.truncated_tokens == [0] and batch.truncated_fields == [[]]


def test_the_parts_render_exactly_the_template():
    task = get_task("scienceqa-img")
    sample = Sample("s", (), References(question="Q?", choices=("a", "b")), {"hint": "H."})
    assert task.prompt_parts_for(sample).text == task.default_prompt.format(
        context="Context: H.\n", question="Q?", choices="A. a\nB. b"
    )
    braces = task.prompt_parts_for(sample, "{{literal}} {question!r:>6}")
    assert braces.text == "{literal}   'Q?'" and braces.fields() == [], "a formatted field is template text"


@pytest.mark.slow
def test_a_run_measures_the_samples_that_fit_and_names_those_left_out(tiny_llava, vlmperf_cache, tmp_path, monkeypatch):
    from vlmperf import api as vp

    monkeypatch.setenv("VLMPERF_CACHE", str(vlmperf_cache))
    samples = load_samples(Workload(task="mcq", limit=10))
    task = get_task("mcq")
    floors = {
        s.id: count(tiny_llava, task.prompt_parts_for(s).with_body("context", "").with_body("question", "").text)
        for s in samples
    }
    budget = sorted(floors.values())[len(floors) // 2]  # some samples fit it, some cannot
    left_out = {sample_id: floor for sample_id, floor in floors.items() if floor > budget}
    assert left_out and len(left_out) < len(floors)
    overrides = [
        "workload.task=mcq",
        f"workload.max_input_len={budget}",
        "measure.min_runs=1",
        "measure.warmup_runs=0",
        "measure.flops=false",
        "generation.max_new_tokens=2",
        "sweep.grid.scenario.batch_size=[2]",
    ]
    outcome = vp.run(overrides=overrides, out=tmp_path / "results")
    assert outcome.failed == 0
    (cell,) = vp.report(outcome.run_id, out=tmp_path / "results")["cells"]
    assert cell["info"]["over_budget"] == left_out
    assert cell["info"]["samples"] == len(floors) - len(left_out)
    assert any("left out" in warning for warning in cell["info"]["warnings"])
    records = vp.records_frame(outcome.run_id, out=tmp_path / "results")
    measured = {sample_id for ids in records["sample_ids"] for sample_id in ids}
    assert measured == set(floors) - set(left_out), "only the samples that fit were measured"
