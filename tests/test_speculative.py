"""Speculative decoding: the same greedy outputs as plain decoding, and what the draft got right."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForImageTextToText

import vlmperf.api as vp
from vlmperf.backends.local.generate import generation_config, timed_generate
from vlmperf.backends.local.inputs import prepare_batch
from vlmperf.backends.local.loading import load_model
from vlmperf.backends.local.presets import TINY_LLAVA
from vlmperf.backends.local.replica import build_preset_processor, to_pretrained_config
from vlmperf.backends.local.target import LocalTarget
from vlmperf.config.spec import Generation, Workload
from vlmperf.errors import InputError
from vlmperf.meters.clock import WallClock
from vlmperf.workloads.sources import load_samples

GREEDY = Generation(max_new_tokens=12, mode="fixed")


@pytest.fixture(autouse=True)
def shared_cache(vlmperf_cache, monkeypatch):
    monkeypatch.setenv("VLMPERF_CACHE", str(vlmperf_cache))


@pytest.fixture(scope="module")
def other_draft_dir(tmp_path_factory):
    """The built-in tiny LLaVA's architecture and tokenizer with other random weights (seed 1)."""
    folder = tmp_path_factory.mktemp("other-draft")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1)
        model = AutoModelForImageTextToText.from_config(to_pretrained_config(TINY_LLAVA.config))
    model.save_pretrained(folder)
    build_preset_processor(TINY_LLAVA, TINY_LLAVA.config["vocab_size"]).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def samples():
    return load_samples(Workload(limit=3))


def _one_by_one(loaded, samples, generation=GREEDY):
    """Each sample alone (assisted generation decodes batch size 1): its outputs and speculative stats."""
    outputs, stats = [], []
    for sample in samples:
        batch = prepare_batch(loaded, [sample], ["Describe the image."], max_input_len=None, device="cpu")
        result = timed_generate(loaded, batch, generation_config(loaded, generation), WallClock())
        outputs += result.outputs
        stats.append(result.speculative)
    return outputs, stats


@pytest.fixture(scope="module")
def plain(samples, vlmperf_cache):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("VLMPERF_CACHE", str(vlmperf_cache))
        outputs, stats = _one_by_one(load_model(LocalTarget()), samples)
    assert stats == [None] * len(samples), "no speculative stats without speculative decoding"
    return outputs


@pytest.mark.parametrize("draft_tokens", [None, 4])
def test_a_draft_identical_to_the_target_is_always_accepted(samples, plain, draft_tokens):
    loaded = load_model(
        LocalTarget(speculative="assistant", assistant_model="builtin:tiny-llava", draft_tokens=draft_tokens)
    )
    outputs, stats = _one_by_one(loaded, samples)
    assert outputs == plain
    for call in stats:
        assert call["acceptance_rate"] == 1.0, call
        assert call["accepted_tokens"] == call["drafted_tokens"] > 0
        assert call["mean_accepted_tokens"] == call["accepted_tokens"] / call["verification_steps"]
    if draft_tokens == 4:
        assert loaded.info["speculative"]["num_assistant_tokens"] == 4
        assert all(call["verification_steps"] < GREEDY.max_new_tokens / 2 for call in stats), stats


def test_a_different_draft_is_partly_rejected_and_changes_no_output(samples, plain, other_draft_dir):
    loaded = load_model(LocalTarget(speculative="assistant", assistant_model=str(other_draft_dir), draft_tokens=3))
    outputs, stats = _one_by_one(loaded, samples)
    assert outputs == plain
    drafted = sum(call["drafted_tokens"] for call in stats)
    accepted = sum(call["accepted_tokens"] for call in stats)
    assert drafted > 0 and accepted < drafted, stats


def test_prompt_lookup_changes_no_output_and_never_drafts_the_image_token(samples, plain):
    """Prompt lookup copies n-grams from the prompt, image placeholders included; transformers 5.23
    then fails the first verification, so vlmperf cuts drafts before the placeholder."""
    loaded = load_model(LocalTarget(speculative="prompt-lookup", draft_tokens=3))
    assert loaded.info["speculative"] == {"mode": "prompt-lookup", "prompt_lookup_num_tokens": 3}
    outputs, stats = _one_by_one(loaded, samples)
    assert outputs == plain
    for call in stats:
        assert call["verification_steps"] > 0 and 0 <= call["accepted_tokens"] <= call["drafted_tokens"]


def test_natural_stops_at_eos_as_plain_decoding_does(samples):
    natural = Generation(max_new_tokens=12)
    expected, _ = _one_by_one(load_model(LocalTarget()), samples, natural)
    loaded = load_model(LocalTarget(speculative="assistant", assistant_model="builtin:tiny-llava"))
    assert _one_by_one(loaded, samples, natural)[0] == expected


def test_a_batch_above_one_says_speculative_runs_batch_size_one(samples):
    loaded = load_model(LocalTarget(speculative="prompt-lookup"))
    batch = prepare_batch(loaded, samples[:2], ["Describe the image."] * 2, max_input_len=None, device="cpu")
    with pytest.raises(InputError, match="batch size 1 only.*scenario.batch_size 1"):
        timed_generate(loaded, batch, generation_config(loaded, GREEDY), WallClock())


def test_a_draft_with_another_vocabulary_is_refused(text_model_dir):
    target = LocalTarget(speculative="assistant", assistant_model=str(text_model_dir))
    with pytest.raises(InputError, match="another vocabulary.*target's tokenizer"):
        load_model(target)


@pytest.mark.slow
def test_in_a_sweep_the_batch_of_two_fails_its_cell_only(tmp_path):
    outcome = vp.run(
        overrides=[
            "target.speculative=prompt-lookup",
            "measure.min_runs=1",
            "measure.warmup_runs=1",
            "measure.flops=false",
            "measure.min_duration_s=0",
            "generation.max_new_tokens=3",
            "workload.limit=2",
            "sweep.grid.scenario.batch_size=[1, 2]",
        ],
        out=tmp_path,
    )
    assert (outcome.cells, outcome.failed) == (2, 1)
    cells = {c["config"]["scenario.batch_size"]: c for c in vp.report(outcome.run_id, out=tmp_path)["cells"]}
    assert cells[1]["status"] == "ok"
    assert cells[2]["status"] == "failed" and "batch size 1 only" in cells[2]["error"]["message"]
