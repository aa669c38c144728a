"""Batching is correct: greedy outputs at batch 4 equal those at batch 1 (fp32, left padding)."""

from __future__ import annotations

import pytest

from vlmperf.backends.local.generate import generation_config, timed_generate
from vlmperf.backends.local.inputs import prepare_batch
from vlmperf.backends.local.loading import load_model
from vlmperf.backends.local.target import LocalTarget
from vlmperf.config.spec import Generation, Workload
from vlmperf.meters.clock import WallClock
from vlmperf.workloads.sources import load_samples
from vlmperf.workloads.tasks import get_task


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("VLMPERF_CACHE", str(tmp_path_factory.mktemp("cache")))
    yield load_model(LocalTarget(model="builtin:tiny-llava", dtype="fp32", attn_implementation="sdpa"))
    mp.undo()


def _outputs(loaded, samples, prompts, batch_size, generation):
    config = generation_config(loaded, generation)
    outputs, counts, padded = [], [], False
    for start in range(0, len(samples), batch_size):
        batch = prepare_batch(
            loaded,
            samples[start : start + batch_size],
            prompts[start : start + batch_size],
            max_input_len=None,
            device="cpu",
        )
        padded |= len(set(batch.input_tokens)) > 1
        result = timed_generate(loaded, batch, config, WallClock())
        outputs += result.outputs
        counts += result.output_tokens
    return outputs, counts, padded


@pytest.mark.parametrize("mode", ["natural", "fixed"])
@pytest.mark.parametrize("source", ["builtin", "procedural"])
def test_batch_of_four_equals_batch_of_one(tiny, mode, source):
    workload = Workload(task="vqa", source=source, limit=8)
    samples = load_samples(workload)
    task = get_task("vqa")
    prompts = [task.prompt_for(s) for s in samples]
    generation = Generation(max_new_tokens=12, mode=mode)
    one, one_counts, _ = _outputs(tiny, samples, prompts, 1, generation)
    four, four_counts, padded = _outputs(tiny, samples, prompts, 4, generation)
    assert padded, "the questions should differ in length so that left padding is exercised"
    assert four == one
    assert four_counts == one_counts
    assert all(o for o in one), "every sample produced text"


def test_left_padding_and_counts(tiny):
    samples = load_samples(Workload(task="vqa", source="builtin", limit=4))
    task = get_task("vqa")
    batch = prepare_batch(tiny, samples, [task.prompt_for(s) for s in samples], max_input_len=None, device="cpu")
    mask = batch.inputs["attention_mask"]
    assert (mask[:, -1] == 1).all(), "left padding: every row ends with a real token"
    assert batch.input_tokens == mask.sum(dim=1).tolist()
    # tiny-llava: 24 px images in 6 px patches, CLS dropped ("default" strategy) -> 16 vision tokens
    assert batch.vision_tokens == [16, 16, 16, 16]


def test_max_input_len_cuts_text_not_image_tokens(tiny):
    samples = load_samples(Workload(task="caption", source="builtin", limit=2))
    prompt = " ".join(["describe the picture"] * 20)  # 60 words
    full = prepare_batch(tiny, samples, [prompt, prompt], max_input_len=None, device="cpu")
    cut = prepare_batch(tiny, samples, [prompt, prompt], max_input_len=10, device="cpu")
    assert cut.truncated_tokens == [50, 50]
    assert full.truncated_tokens == [0, 0]
    assert cut.vision_tokens == full.vision_tokens == [16, 16]
    assert [f - c for f, c in zip(full.input_tokens, cut.input_tokens, strict=True)] == [50, 50]


def test_fixed_mode_generates_exactly_max_new_tokens(tiny):
    samples = load_samples(Workload(source="procedural", limit=3))
    prompts = [get_task("caption").prompt_for(s) for s in samples]
    batch = prepare_batch(tiny, samples, prompts, max_input_len=None, device="cpu")
    result = timed_generate(
        tiny, batch, generation_config(tiny, Generation(max_new_tokens=7, mode="fixed")), WallClock()
    )
    assert result.output_tokens == [7, 7, 7]
    assert result.steps == 7
    assert 0 < result.ttft_s < result.latency_s
