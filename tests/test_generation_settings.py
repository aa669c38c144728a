"""What is decoded is what the config says: a checkpoint's shipped generation defaults never leak in."""

from __future__ import annotations

import json
import shutil

import pytest

from vlmperf.backends.local.generate import generation_config, timed_generate
from vlmperf.backends.local.inputs import prepare_batch
from vlmperf.backends.local.loading import load_model
from vlmperf.backends.local.presets import TINY_LLAVA
from vlmperf.backends.local.replica import saved_preset_dir
from vlmperf.backends.local.target import LocalTarget
from vlmperf.config.spec import Generation, Workload
from vlmperf.meters.clock import WallClock
from vlmperf.workloads.sources import load_samples
from vlmperf.workloads.tasks import get_task

DOCTORED = {
    "repetition_penalty": 1.5,
    "no_repeat_ngram_size": 1,
    "min_length": 60,
    "use_cache": False,
    "return_dict_in_generate": True,
    "output_scores": True,
    "suppress_tokens": [10, 11, 12],
    "do_sample": True,
    "temperature": 0.3,
}


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("VLMPERF_CACHE", str(tmp_path_factory.mktemp("cache")))
    clean = saved_preset_dir(TINY_LLAVA)
    doctored = tmp_path_factory.mktemp("doctored") / "model"
    shutil.copytree(clean, doctored)
    path = doctored / "generation_config.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **DOCTORED}))
    yield load_model(LocalTarget()), load_model(LocalTarget(model=str(doctored)))
    mp.undo()


def _decode(loaded, mode="natural"):
    samples = load_samples(Workload(task="vqa", limit=4))
    prompts = [get_task("vqa").prompt_for(s) for s in samples]
    batch = prepare_batch(loaded, samples, prompts, max_input_len=None, device="cpu")
    lengths: list[int] = []
    hook = loaded.model.model.language_model.register_forward_pre_hook(
        lambda module, args, kwargs: lengths.append(kwargs["inputs_embeds"].shape[1]), with_kwargs=True
    )
    try:
        result = timed_generate(
            loaded, batch, generation_config(loaded, Generation(max_new_tokens=10, mode=mode)), WallClock()
        )
    finally:
        hook.remove()
    return result, lengths


def test_shipped_generation_defaults_do_not_change_outputs_or_work(models):
    clean, doctored = models
    expected, _ = _decode(clean)
    got, lengths = _decode(doctored)
    assert got.outputs == expected.outputs
    assert got.output_tokens == expected.output_tokens
    assert lengths[1:] == [1] * (len(lengths) - 1), "decoding uses the KV cache: one new position per step"
    assert doctored.info["shipped_generation_config"]["repetition_penalty"] == 1.5, "what it shipped is recorded"


def test_natural_mode_stops_rows_at_their_own_eos(models):
    """Make a token the model really emits an end-of-sequence token: rows end early, at batch 1 and 4 alike."""
    clean, _ = models
    samples = load_samples(Workload(task="vqa", limit=4))
    prompts = [get_task("vqa").prompt_for(s) for s in samples]
    batch = prepare_batch(clean, samples, prompts, max_input_len=None, device="cpu")
    fixed = generation_config(clean, Generation(max_new_tokens=10, mode="fixed"))
    sequences = clean.model.generate(**batch.inputs, generation_config=fixed)
    stopper = int(sequences[0, batch.prompt_length + 2])  # the first row's third token
    original = clean.model.generation_config.eos_token_id
    clean.model.generation_config.eos_token_id = [original, stopper]
    try:
        batched, _ = _decode(clean)
        config = generation_config(clean, Generation(max_new_tokens=10))
        single = [
            timed_generate(clean, prepare_batch(clean, [s], [p], max_input_len=None, device="cpu"), config, WallClock())
            for s, p in zip(samples, prompts, strict=True)
        ]
    finally:
        clean.model.generation_config.eos_token_id = original
    assert batched.output_tokens[0] == 3, "the first row stopped at the new end-of-sequence token"
    assert batched.output_tokens == [r.output_tokens[0] for r in single]
    assert batched.outputs == [r.outputs[0] for r in single]
