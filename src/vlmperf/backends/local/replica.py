"""Random-weight replicas of real architectures, and the built-in model's on-disk cache.

Weights do not change how long a forward pass takes, so a replica built from a real model's
config answers speed, memory, energy and FLOPs questions without downloading weights. Replicas
are always labelled as such in results (`no_weights`). Layer counts can be overridden to build a
scaled-down replica that fits a small machine.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
from transformers import AutoConfig, AutoModelForImageTextToText, LlavaProcessor, PretrainedConfig, PreTrainedModel
from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

from vlmperf.backends.local.presets import Preset
from vlmperf.backends.local.synthetic_tokenizer import build_synthetic_tokenizer

_CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
_CLIP_STD = [0.26862954, 0.26130258, 0.27577711]
_BUILD_VERSION = "1"
"""Bump when the way a cached built-in model is produced changes, so old caches are rebuilt."""

WEIGHTS_SEED = 0


def scaled_config(
    config: dict[str, Any], *, text_layers: int | None = None, vision_layers: int | None = None
) -> dict[str, Any]:
    """A copy of a composite VLM config with the layer counts of its towers replaced."""
    scaled = json.loads(json.dumps(config))
    for key, layers in (("text_config", text_layers), ("vision_config", vision_layers)):
        if layers is None:
            continue
        if key not in scaled:
            raise ValueError(f"this model's config has no {key}, so its layer count cannot be overridden")
        scaled[key]["num_hidden_layers"] = layers
    return scaled


def to_pretrained_config(config: dict[str, Any]) -> PretrainedConfig:
    """A transformers config object from a plain config dict (as config.json holds it)."""
    config = dict(config)
    model_type = config.pop("model_type")
    return AutoConfig.for_model(model_type, **config)


def build_random_model(config: PretrainedConfig, *, dtype: torch.dtype, device: str) -> PreTrainedModel:
    """Instantiate the architecture directly on its device and dtype, with seeded random weights."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(WEIGHTS_SEED)
        with torch.device(device):
            model = AutoModelForImageTextToText.from_config(config, dtype=dtype)
    return model.eval()


def build_preset_processor(preset: Preset, vocab_size: int) -> LlavaProcessor:
    """A processor that gives the preset's image tensors and vision token count, with a stand-in tokenizer."""
    config = preset.config
    tokenizer = build_synthetic_tokenizer(
        vocab_size,
        image_token_id=config["image_token_index"],
        pad_token_id=config["pad_token_id"],
        chat_template=preset.chat_template,
    )
    size = preset.image_size
    image_processor = CLIPImageProcessorPil(
        size={"shortest_edge": size},
        crop_size={"height": size, "width": size},
        image_mean=_CLIP_MEAN,
        image_std=_CLIP_STD,
    )
    return LlavaProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        patch_size=preset.patch_size,
        vision_feature_select_strategy=config.get("vision_feature_select_strategy"),
        num_additional_image_tokens=preset.num_additional_image_tokens,
        chat_template=preset.chat_template,
    )


def cache_root() -> Path:
    """Where vlmperf keeps built models: $VLMPERF_CACHE, else the user's cache dir."""
    explicit = os.environ.get("VLMPERF_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "vlmperf"


def saved_preset_dir(preset: Preset) -> Path:
    """The preset saved with `save_pretrained` (built once, then reused), for the real loading path.

    The folder name carries a hash of the config and the build recipe, so a changed preset is
    rebuilt instead of silently reused. It is written to a temporary folder and renamed, so an
    interrupted build never leaves a half-written model behind.
    """
    recipe = json.dumps({"config": preset.config, "build": _BUILD_VERSION, "seed": WEIGHTS_SEED}, sort_keys=True)
    digest = hashlib.sha256(recipe.encode()).hexdigest()[:12]
    target = cache_root() / "models" / f"{preset.name}-{digest}"
    if (target / "config.json").exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{preset.name}-", dir=target.parent))
    try:
        model = build_random_model(to_pretrained_config(preset.config), dtype=torch.float32, device="cpu")
        model.save_pretrained(staging)
        build_preset_processor(preset, preset.config["vocab_size"]).save_pretrained(staging)
        os.replace(staging, target)
    except OSError:
        if (target / "config.json").exists():  # another process finished the same build first
            shutil.rmtree(staging, ignore_errors=True)
            return target
        raise
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return target
