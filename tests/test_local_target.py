"""The local target beyond the default: text-only causal LMs, dtypes and attention implementations."""

from __future__ import annotations

import pytest
import torch

from vlmperf.backends.local.generate import generation_config, timed_generate
from vlmperf.backends.local.inputs import prepare_batch
from vlmperf.backends.local.loading import load_model
from vlmperf.backends.local.target import LocalTarget
from vlmperf.config.spec import Generation, Workload
from vlmperf.errors import InputError
from vlmperf.meters.clock import WallClock
from vlmperf.workloads.sample import Sample
from vlmperf.workloads.sources import load_samples
from vlmperf.workloads.tasks import get_task

PROMPTS = [
    "Describe a cat.",
    "What colour is the sky on a clear day at noon?",
    "Name two shapes.",
    "Count to three please.",
]


def _generate(loaded, samples, prompts, batch_size, max_new_tokens=8):
    config = generation_config(loaded, Generation(max_new_tokens=max_new_tokens, mode="fixed"))
    outputs = []
    for start in range(0, len(samples), batch_size):
        batch = prepare_batch(
            loaded,
            samples[start : start + batch_size],
            prompts[start : start + batch_size],
            max_input_len=None,
            device="cpu",
        )
        outputs += timed_generate(loaded, batch, config, WallClock()).outputs
    return outputs


def test_text_only_causal_lm_loads_from_disk_and_batches_correctly(text_model_dir):
    loaded = load_model(LocalTarget(model=str(text_model_dir)))
    assert not loaded.multimodal
    assert loaded.info["model_class"] == "LlamaForCausalLM"
    samples = [Sample(id=f"t{i}", images=()) for i in range(len(PROMPTS))]
    assert _generate(loaded, samples, PROMPTS, 4) == _generate(loaded, samples, PROMPTS, 1)


def test_text_only_model_refuses_images_with_a_clear_error(text_model_dir):
    loaded = load_model(LocalTarget(model=str(text_model_dir)))
    samples = load_samples(Workload(limit=1))
    with pytest.raises(InputError, match="text-only"):
        prepare_batch(loaded, samples, ["Describe the image."], max_input_len=None, device="cpu")


@pytest.mark.parametrize("dtype", ["fp16", "bf16"])
def test_half_precision_loads_and_generates_on_cpu(dtype, tmp_path, monkeypatch):
    monkeypatch.setenv("VLMPERF_CACHE", str(tmp_path))
    loaded = load_model(LocalTarget(dtype=dtype))
    assert loaded.model.dtype == {"fp16": torch.float16, "bf16": torch.bfloat16}[dtype]
    samples = load_samples(Workload(limit=2))
    batch = prepare_batch(loaded, samples, ["Describe the image."] * 2, max_input_len=None, device="cpu")
    assert batch.inputs["pixel_values"].dtype == loaded.model.dtype
    assert len(_generate(loaded, samples, ["Describe the image."] * 2, 2, max_new_tokens=3)) == 2


def test_eager_and_sdpa_attention_agree_on_greedy_outputs(tmp_path, monkeypatch):
    monkeypatch.setenv("VLMPERF_CACHE", str(tmp_path))
    samples = load_samples(Workload(task="vqa", limit=4))
    prompts = [get_task("vqa").prompt_for(s) for s in samples]
    eager = load_model(LocalTarget(attn_implementation="eager"))
    sdpa = load_model(LocalTarget(attn_implementation="sdpa"))
    assert eager.model.config._attn_implementation == "eager"
    assert _generate(eager, samples, prompts, 4) == _generate(sdpa, samples, prompts, 4)
