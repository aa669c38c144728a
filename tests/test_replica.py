"""Replicas of real architectures: parameter counts agree with the count computed from the config."""

from __future__ import annotations

import pytest
import torch

from vlmperf.backends.local.loading import load_model
from vlmperf.backends.local.presets import LLAVA_15_7B
from vlmperf.backends.local.replica import build_random_model, scaled_config, to_pretrained_config
from vlmperf.backends.local.target import LocalTarget


def clip_vision_params(c: dict) -> int:
    """CLIP vision transformer: patch conv (no bias), CLS, positions, pre/post LayerNorm, layers."""
    h, i, p, s = c["hidden_size"], c["intermediate_size"], c["patch_size"], c["image_size"]
    positions = (s // p) ** 2 + 1
    embeddings = 3 * p * p * h + h + positions * h
    layer = 4 * (h * h + h) + (h * i + i) + (i * h + h) + 2 * 2 * h
    return embeddings + 2 * 2 * h + c["num_hidden_layers"] * layer


def llama_params(c: dict) -> int:
    """Llama decoder: embeddings, bias-free attention with grouped KV heads, SwiGLU MLP, RMSNorms, untied head."""
    h, i, v = c["hidden_size"], c["intermediate_size"], c["vocab_size"]
    kv = h // c["num_attention_heads"] * c.get("num_key_value_heads", c["num_attention_heads"])
    layer = 2 * h * h + 2 * h * kv + 3 * h * i + 2 * h
    return v * h + c["num_hidden_layers"] * layer + h + v * h


def llava_params(c: dict) -> int:
    hv, ht = c["vision_config"]["hidden_size"], c["text_config"]["hidden_size"]
    projector = (hv * ht + ht) + (ht * ht + ht)
    return clip_vision_params(c["vision_config"]) + projector + llama_params(c["text_config"])


def meta_param_count(config: dict) -> int:
    model = build_random_model(to_pretrained_config(config), dtype=torch.float16, device="meta")
    return sum(p.numel() for p in model.parameters())


def test_full_llava_15_7b_matches_its_config():
    config = LLAVA_15_7B.model_config()
    expected = llava_params(config)
    assert 7.0e9 < expected < 7.1e9  # llava-1.5-7b is published as 7.06B parameters
    assert meta_param_count(config) == expected


@pytest.mark.parametrize(("text_layers", "vision_layers"), [(2, 2), (1, 3), (4, 1)])
def test_scaled_llava_15_7b_replica_matches_its_config(text_layers, vision_layers):
    config = scaled_config(LLAVA_15_7B.model_config(), text_layers=text_layers, vision_layers=vision_layers)
    assert config["text_config"]["num_hidden_layers"] == text_layers
    assert config["vision_config"]["num_hidden_layers"] == vision_layers
    assert meta_param_count(config) == llava_params(config)


@pytest.mark.slow
def test_no_weights_replica_loads_through_the_runner_path_and_is_labelled():
    loaded = load_model(
        LocalTarget(model="llava-hf/llava-1.5-7b-hf", no_weights=True, text_layers=1, vision_layers=1, dtype="bf16")
    )
    config = scaled_config(LLAVA_15_7B.model_config(), text_layers=1, vision_layers=1)
    assert loaded.info["parameters"] == llava_params(config)
    assert loaded.info["weights"] == "random (no_weights replica)"
    assert loaded.info["config_source"].startswith("preset llava-1.5-7b:")
    assert loaded.model.dtype == torch.bfloat16
    assert len(loaded.tokenizer) == 32064
    assert loaded.image_token_id == 32000
