"""The FLOPs a generate call should cost, computed from the model's config alone.

This is the cross-check of the counted FLOPs (`meters.flops`): the two are computed independently
(one from shapes in a config, one from the ops that actually ran), so a counter that misses an op
(attention on a path without a formula) or a model that does work nobody expected (logits for
every prompt position) shows up as a disagreement.

It counts what the counter counts: matrix products as 2 × multiply-accumulates, attention as two
full (non-causal) matmuls per head, and nothing element-wise (norms, activations, softmax, bias
adds). Notation: B rows in the batch, L the padded prompt length (image placeholder tokens and
padding included: the model computes over every position), S decode steps (forward calls after the
first; S = max_new_tokens − 1 when no row stops early), I images in the whole batch.

Language model (Llama-style decoder: n layers, hidden h, q query heads and k key/value heads of
width d, gated MLP of width i, vocabulary V):

    W = n · (h·q·d + 2·h·k·d + q·d·h + 3·h·i)        weights each token passes through
    prefill  = 2·W·B·L + n · 4·B·q·d·L²               projections and MLPs, then Q·Kᵀ and A·V
    decode   = Σ_{j=1..S} 2·W·B + n · 4·B·q·d·(L + j) one new token attending to L + j positions
    lm head  = 2·h·V·B per forward call               generate keeps the logits of the last
                                                      position only (transformers 5 passes
                                                      logits_to_keep=1), prompt pass included

Vision tower (CLIP ViT: N_v layers, width h_v, MLP i_v, image size s, patch p; P = (s/p)² patches,
N = P + 1 positions with the class token), per image, all in the prefill (every layer runs, also
those after the feature layer LLaVA reads):

    2·(3·p²·h_v)·P + N_v · (2·N·(4·h_v² + 2·h_v·i_v) + 4·h_v·N²)

Projector (LLaVA's two-layer MLP over the T image features it keeps: T = P with the "default"
strategy, which drops the class token, N with "full"; f feature layers concatenated):

    2·T·(f·h_v·h + h²) per image

This is plain decoding: assisted / speculative decoding verifies several tokens per call and
keeps their logits, so its counted FLOPs are not comparable with this formula.

With transformers 5 the counter and this formula agree exactly for LLaVA-1.5 and Llama (rotary
embeddings are computed element-wise there, so they add no matmul); the tests allow 2%.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from vlmperf.errors import InputError

GATED_MLP_DECODERS = frozenset({"llama", "mistral", "qwen2"})
"""Decoders made of q/k/v/o projections and a gate/up/down MLP per layer (the formula above)."""
VISION_TOWERS_WITH_CLASS_TOKEN = {"clip_vision_model": True}
"""Vision towers whose formula is known, and whether they prepend a class token."""
VISION_LANGUAGE_MODELS = frozenset({"llava"})
"""Vision-language architectures whose formula is known: one fixed-size image per image placeholder
run, projector as above (LLaVA-NeXT's tiles, Qwen2-VL's merger, ... have other formulas)."""


@dataclass(frozen=True)
class AnalyticFlops:
    """The analytic count of one generate call over a whole batch."""

    prefill_flops: int
    decode_flops: int
    by_stage: dict[str, dict[str, int]]
    """`vision`, `projector`, `language_model`, `lm_head` -> {"prefill": n, "decode": n}."""

    def total(self) -> int:
        return self.prefill_flops + self.decode_flops


def _get(config: Any, key: str, default: Any = None) -> Any:
    if isinstance(config, Mapping):
        return config.get(key, default)
    value = getattr(config, key, default)
    return default if value is None else value


def _require(config: Any, key: str, where: str) -> Any:
    value = _get(config, key)
    if value is None:
        raise InputError(f"the model's {where} has no {key!r}, so its FLOPs cannot be computed from the config")
    return value


def _check_known(model_type: Any, known: Any, part: str) -> None:
    """Refuse a part whose architecture has no formula here, naming those that have one."""
    if model_type not in known:
        raise InputError(
            f"no analytic FLOP formula for a {model_type!r} {part} (known: {sorted(known)}); "
            "the counted FLOPs stand, they just cannot be cross-checked for this model"
        )


@dataclass(frozen=True)
class DecoderShape:
    """The sizes of a Llama-style decoder that its FLOPs and bytes depend on (module docstring's names)."""

    layers: int  # n
    hidden: int  # h
    heads: int  # q
    kv_heads: int  # k
    head_dim: int  # d
    intermediate: int  # i
    vocab: int  # V

    @classmethod
    def of(cls, text: Any) -> DecoderShape:
        """The shape of a text config (or its dict) whose architecture has a formula here."""
        _check_known(_get(text, "model_type"), GATED_MLP_DECODERS, "language model")
        h = _require(text, "hidden_size", "text config")
        q = _require(text, "num_attention_heads", "text config")
        return cls(
            layers=_require(text, "num_hidden_layers", "text config"),
            hidden=h,
            heads=q,
            kv_heads=_get(text, "num_key_value_heads", q),
            head_dim=_get(text, "head_dim", h // q),
            intermediate=_require(text, "intermediate_size", "text config"),
            vocab=_require(text, "vocab_size", "text config"),
        )


def decoder_flops(text: Any, *, batch_size: int, prompt_length: int, decode_steps: int) -> dict[str, dict[str, int]]:
    """The language model and lm head of a Llama-style decoder (see the module docstring)."""
    shape = DecoderShape.of(text)
    n, h, q, k, d, i = shape.layers, shape.hidden, shape.heads, shape.kv_heads, shape.head_dim, shape.intermediate
    weights = n * (h * q * d + 2 * h * k * d + q * d * h + 3 * h * i)
    b, length, steps = batch_size, prompt_length, decode_steps
    prefill = 2 * weights * b * length + n * 4 * b * q * d * length * length
    decode = steps * 2 * weights * b + n * 4 * b * q * d * (steps * length + steps * (steps + 1) // 2)
    head = 2 * h * shape.vocab * b
    return {
        "language_model": {"prefill": prefill, "decode": decode},
        "lm_head": {"prefill": head, "decode": head * steps},
    }


def vision_flops(config: Any, *, images: int) -> dict[str, dict[str, int]]:
    """A CLIP vision tower and LLaVA's projector over `images` images (see the module docstring)."""
    vision, text = _get(config, "vision_config"), _get(config, "text_config")
    model_type = _get(vision, "model_type")
    _check_known(model_type, VISION_TOWERS_WITH_CLASS_TOKEN, "vision tower")
    hv = _require(vision, "hidden_size", "vision config")
    iv = _require(vision, "intermediate_size", "vision config")
    layers = _require(vision, "num_hidden_layers", "vision config")
    patch = _require(vision, "patch_size", "vision config")
    channels = _get(vision, "num_channels", 3)
    patches = (_require(vision, "image_size", "vision config") // patch) ** 2
    positions = patches + (1 if VISION_TOWERS_WITH_CLASS_TOKEN[model_type] else 0)
    per_image = 2 * channels * patch * patch * hv * patches
    per_image += layers * (2 * positions * (4 * hv * hv + 2 * hv * iv) + 4 * hv * positions * positions)
    feature_layer = _get(config, "vision_feature_layer", -2)
    f = len(feature_layer) if isinstance(feature_layer, (list, tuple)) else 1
    kept = patches if _get(config, "vision_feature_select_strategy", "default") == "default" else positions
    h = _require(text, "hidden_size", "text config")
    projector = 2 * kept * (f * hv * h + h * h)
    return {
        "vision": {"prefill": per_image * images, "decode": 0},
        "projector": {"prefill": projector * images, "decode": 0},
    }


def analytic_generate_flops(
    config: Any, *, batch_size: int, prompt_length: int, decode_steps: int, images: int = 0
) -> AnalyticFlops:
    """FLOPs of a generate call from the config: a LLaVA-style config (vision_config + text_config)
    or a text-only Llama-style one.

    `prompt_length` is the padded length of the batch's input_ids (image placeholders included),
    `decode_steps` the forward calls after the prompt pass, `images` the images of the whole batch.
    `config` is a transformers config or its dict (config.json).
    """
    if min(batch_size, prompt_length) < 1 or min(decode_steps, images) < 0:
        raise ValueError(
            f"batch_size and prompt_length must be >= 1 and decode_steps, images >= 0 "
            f"(got {batch_size}, {prompt_length}, {decode_steps}, {images})"
        )
    text = _get(config, "text_config") or config
    if _get(config, "vision_config") is not None:
        _check_known(_get(config, "model_type"), VISION_LANGUAGE_MODELS, "vision-language model")
    stages = decoder_flops(text, batch_size=batch_size, prompt_length=prompt_length, decode_steps=decode_steps)
    if _get(config, "vision_config") is not None:
        stages = {**vision_flops(config, images=images), **stages}
    elif images:
        raise InputError("images were given, but this config has no vision_config: it is a text-only model")
    return AnalyticFlops(
        prefill_flops=sum(s["prefill"] for s in stages.values()),
        decode_flops=sum(s["decode"] for s in stages.values()),
        by_stage=stages,
    )
