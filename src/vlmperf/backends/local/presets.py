"""Built-in model presets: exact architecture configs that need no hub access.

A preset is what `no_weights: true` builds from when the hub cannot be reached (and what the
built-in default model is). Each one holds a model config as the hub publishes it, and the
recipe of a processor that produces the same number of vision tokens as the real one. The
tokenizer of a preset is a stand-in (see `synthetic_tokenizer`): token counts of text differ
slightly from the real tokenizer's, which the manifest states.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

LLAVA_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'system' %}"
    "{% for item in message['content'] %}{% if item['type'] == 'text' %}{{ item['text'] }}{% endif %}{% endfor %} "
    "{% elif message['role'] == 'user' %}USER: "
    "{% for item in message['content'] %}"
    "{% if item['type'] == 'image' %}<image>\n"
    "{% elif item['type'] == 'text' %}{{ item['text'] }}{% endif %}"
    "{% endfor %} "
    "{% elif message['role'] == 'assistant' %}ASSISTANT: "
    "{% for item in message['content'] %}{% if item['type'] == 'text' %}{{ item['text'] }}{% endif %}{% endfor %}"
    "</s>"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}ASSISTANT:{% endif %}"
)
"""The llava-1.5 conversation format ("USER: <image>\\n{prompt} ASSISTANT:"), after the system
sentence and a space when a system message is given, as llava-hf's own template writes it (its
system text has no role prefix), which is LLaVA's conv_vicuna_v1 "<system> USER: ... ASSISTANT:"."""


@dataclass(frozen=True)
class Preset:
    """An architecture that can be built offline with random weights."""

    name: str
    aliases: tuple[str, ...]
    config: dict[str, Any]
    image_size: int
    patch_size: int
    num_additional_image_tokens: int
    chat_template: str
    description: str

    def model_config(self) -> dict[str, Any]:
        """A deep copy of the config, safe to edit."""
        return copy.deepcopy(self.config)


# llava-hf/llava-1.5-7b-hf config.json as published on the hub (vicuna-7b-v1.5 text model with
# unset fields left at LlamaConfig's defaults, which are Llama-2-7B's; CLIP ViT-L/14 at 336 px).
LLAVA_15_7B = Preset(
    name="llava-1.5-7b",
    aliases=("llava-hf/llava-1.5-7b-hf",),
    config={
        "architectures": ["LlavaForConditionalGeneration"],
        "ignore_index": -100,
        "image_token_index": 32000,
        "model_type": "llava",
        "pad_token_id": 32001,
        "projector_hidden_act": "gelu",
        "text_config": {
            "architectures": ["LlamaForCausalLM"],
            "max_position_embeddings": 4096,
            "model_type": "llama",
            "rms_norm_eps": 1e-05,
            "vocab_size": 32064,
            "hidden_size": 4096,
            "intermediate_size": 11008,
            "num_hidden_layers": 32,
            "num_attention_heads": 32,
            "num_key_value_heads": 32,
            "hidden_act": "silu",
            "rope_theta": 10000.0,
            "tie_word_embeddings": False,
        },
        "tie_word_embeddings": False,
        "vision_config": {
            "hidden_size": 1024,
            "image_size": 336,
            "intermediate_size": 4096,
            "model_type": "clip_vision_model",
            "num_attention_heads": 16,
            "num_hidden_layers": 24,
            "patch_size": 14,
            "projection_dim": 768,
            "vocab_size": 32000,
            "hidden_act": "quick_gelu",
        },
        "vision_feature_layer": -2,
        "vision_feature_select_strategy": "default",
        "vocab_size": 32064,
    },
    image_size=336,
    patch_size=14,
    num_additional_image_tokens=1,
    chat_template=LLAVA_CHAT_TEMPLATE,
    description="llava-1.5-7b (CLIP ViT-L/14-336 + Vicuna-7B), config as on the hub",
)

# The built-in default model: the llava-1.5 architecture at a size that runs a sweep on two CPU
# cores in seconds. 24x24 images in 6x6 patches give 16 vision tokens.
TINY_LLAVA = Preset(
    name="tiny-llava",
    aliases=("builtin:tiny-llava",),
    config={
        "architectures": ["LlavaForConditionalGeneration"],
        "image_token_index": 3,
        "model_type": "llava",
        "pad_token_id": 4,
        "projector_hidden_act": "gelu",
        "text_config": {
            "model_type": "llama",
            "vocab_size": 1024,
            "hidden_size": 64,
            "intermediate_size": 128,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "max_position_embeddings": 512,
            "rms_norm_eps": 1e-05,
            "tie_word_embeddings": False,
        },
        "tie_word_embeddings": False,
        "vision_config": {
            "model_type": "clip_vision_model",
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_attention_heads": 4,
            "num_hidden_layers": 2,
            "image_size": 24,
            "patch_size": 6,
            "projection_dim": 32,
            "hidden_act": "quick_gelu",
        },
        "vision_feature_layer": -2,
        "vision_feature_select_strategy": "default",
        "vocab_size": 1024,
    },
    image_size=24,
    patch_size=6,
    num_additional_image_tokens=1,
    chat_template=LLAVA_CHAT_TEMPLATE,
    description="built-in tiny LLaVA (random weights, for trying vlmperf and for tests)",
)

PRESETS: dict[str, Preset] = {}
for _preset in (LLAVA_15_7B, TINY_LLAVA):
    for _key in (_preset.name, f"preset:{_preset.name}", *_preset.aliases):
        PRESETS[_key] = _preset

DEFAULT_MODEL = "builtin:tiny-llava"


def find_preset(model: str) -> Preset | None:
    """The preset a model reference names (by name, `preset:NAME` or a hub id it replicates)."""
    return PRESETS.get(model)


def preset_names() -> list[str]:
    """Every name a preset answers to, for error messages."""
    return sorted(PRESETS)
