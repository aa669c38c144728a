"""Weight quantization: torchao int8 on both loading paths, and what was quantized, read back from the model."""

from __future__ import annotations

import pytest
import torch

from vlmperf.backends.local.generate import generation_config, timed_generate
from vlmperf.backends.local.inputs import prepare_batch
from vlmperf.backends.local.loading import load_model
from vlmperf.backends.local.quantize import pretrained_quantization_config, quantization_info
from vlmperf.backends.local.target import LocalTarget
from vlmperf.config.spec import Generation, Workload
from vlmperf.meters.clock import WallClock
from vlmperf.workloads.sources import load_samples

pytest.importorskip("torchao", reason="torchao-int8 needs torchao (the test extra installs it)")


@pytest.fixture(autouse=True)
def shared_cache(vlmperf_cache, monkeypatch):
    monkeypatch.setenv("VLMPERF_CACHE", str(vlmperf_cache))


def _outputs(loaded, samples):
    batch = prepare_batch(loaded, samples, ["Describe the image."] * len(samples), max_input_len=None, device="cpu")
    return timed_generate(
        loaded, batch, generation_config(loaded, Generation(max_new_tokens=6, mode="fixed")), WallClock()
    )


def _int8_weights(model):
    """(quantized Linear names, full-precision Linear names) by looking at the weights themselves."""
    quantized, full = [], []
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Linear):
            data = getattr(module.weight, "qdata", None)
            (quantized if data is not None and data.dtype == torch.int8 else full).append(name)
    return quantized, full


@pytest.mark.parametrize("no_weights", [False, True], ids=["from_pretrained", "no_weights-replica"])
def test_torchao_int8_quantizes_every_linear_but_the_output_head(no_weights):
    loaded = load_model(LocalTarget(quantization="torchao-int8", no_weights=no_weights))
    quantized, full = _int8_weights(loaded.model)
    assert full == ["lm_head"]
    assert any("vision_tower" in n for n in quantized) and any("language_model" in n for n in quantized)
    info = loaded.info["quantization"]
    assert info["method"] == "torchao-int8" and info["quantized_linear_layers"] == len(quantized)
    assert list(info["full_precision_linear_layers"]) == ["lm_head"]
    assert "output head" in info["full_precision_linear_layers"]["lm_head"]
    assert ("quantize_" in info["applied"]) == no_weights


def test_torchao_int8_generates_and_its_outputs_are_recorded():
    """Agreement with fp32 is a measured figure (agreement_vs_reference), not something to assert here."""
    samples = load_samples(Workload(limit=3))
    result = _outputs(load_model(LocalTarget(quantization="torchao-int8")), samples)
    assert len(result.outputs) == 3 and all(isinstance(text, str) for text in result.outputs)
    assert result.output_tokens == [6, 6, 6]


def test_torchao_int8_compiles():
    loaded = load_model(LocalTarget(quantization="torchao-int8", compile="default"))
    loaded.compile_config.backend = "eager"  # dynamo over the int8 tensors, without inductor's slow codegen
    assert len(_outputs(loaded, load_samples(Workload(limit=1))).outputs) == 1


def test_bitsandbytes_configs_ask_for_what_the_names_say():
    eight = pretrained_quantization_config("bnb-8bit", torch.float16)
    four = pretrained_quantization_config("bnb-4bit", torch.bfloat16)
    assert eight.load_in_8bit and not eight.load_in_4bit
    assert four.load_in_4bit and four.bnb_4bit_quant_type == "nf4" and four.bnb_4bit_compute_dtype == torch.bfloat16
    assert pretrained_quantization_config("none", torch.float32) is None


def test_a_model_without_quantized_layers_is_reported_not_recorded_as_quantized():
    with pytest.raises(RuntimeError, match="no Linear layer holds quantized weights"):
        quantization_info(torch.nn.Sequential(torch.nn.Linear(4, 4)), "torchao-int8", "test")
