"""Resolve a local target's model reference and load it (or build its random-weight replica).

A reference is one of: a preset (`builtin:tiny-llava`, `llava-1.5-7b`, or a hub id a preset
replicates, with `no_weights`), a local folder holding a saved model, or a hub id. Vision-language
models load with AutoModelForImageTextToText + AutoProcessor; text-only causal LMs with
AutoModelForCausalLM + AutoTokenizer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from transformers import (
    AutoConfig,
    AutoModelForCausalLM,
    AutoModelForImageTextToText,
    AutoProcessor,
    AutoTokenizer,
    GenerationConfig,
)
from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES
from transformers.utils import logging as transformers_logging

from vlmperf.backends.local.presets import TINY_LLAVA, Preset, find_preset, preset_names
from vlmperf.backends.local.replica import (
    build_preset_processor,
    build_random_model,
    saved_preset_dir,
    scaled_config,
    to_pretrained_config,
)
from vlmperf.config.spec import LocalTarget
from vlmperf.errors import InputError

DTYPES: dict[str, torch.dtype] = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
transformers_logging.disable_progress_bar()  # the run has its own progress bar

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


@dataclass
class LoadedModel:
    """A model ready to generate, its processor (or tokenizer), and what was loaded."""

    model: Any
    processor: Any
    tokenizer: Any
    multimodal: bool
    image_token_id: int | None
    info: dict[str, Any] = field(default_factory=dict)


def check_device(device: str) -> None:
    """Fail before any work when the device does not exist on this machine."""
    if not device.startswith("cuda"):
        return
    if not torch.cuda.is_available():
        raise InputError(
            f"device {device!r} asked for, but torch {torch.__version__} sees no CUDA device here; "
            "use target.device=cpu or run on a machine with a GPU and a CUDA build of torch"
        )
    index = int(device.split(":")[1]) if ":" in device else 0
    if index >= torch.cuda.device_count():
        count = torch.cuda.device_count()
        raise InputError(
            f"device {device!r} does not exist: this machine has {count} CUDA device(s); "
            f"use cuda:0 to cuda:{count - 1}, or cpu"
        )


def is_local_path(model: str) -> bool:
    return model.startswith(("/", "./", "../", "~")) or Path(model).exists() or not _HUB_ID.match(model)


def check_model_reference(target: LocalTarget) -> None:
    """Fail before any work when the model reference cannot be anything loadable."""
    preset = find_preset(target.model)
    if preset is not None:
        if not target.no_weights and preset is not TINY_LLAVA and target.model not in preset.aliases:
            raise InputError(
                f"model {target.model!r} is a preset without weights: set target.no_weights=true for a "
                f"random-weight replica, or give a hub id or folder with weights ({', '.join(preset.aliases)})"
            )
        return
    if is_local_path(target.model):
        path = Path(target.model).expanduser()
        if not (path / "config.json").is_file():
            raise InputError(
                f"model path {target.model!r} has no config.json: give a folder saved with save_pretrained, "
                f"a hub id (org/name), or a preset ({', '.join(preset_names())})"
            )


def _source(target: LocalTarget, preset: Preset | None) -> str:
    """Where from_pretrained reads: the built-in model's cache folder, a local folder, or a hub id."""
    if preset is TINY_LLAVA:
        return str(saved_preset_dir(preset))
    if is_local_path(target.model):
        return str(Path(target.model).expanduser())
    return target.model


def load_model(target: LocalTarget) -> LoadedModel:
    """Load (or build) the target's model on its device and dtype, in eval mode."""
    dtype = DTYPES[target.dtype]
    preset = find_preset(target.model)
    if target.no_weights:
        return _build_replica(target, preset, dtype)
    source = _source(target, preset)
    config = AutoConfig.from_pretrained(source, revision=target.revision, trust_remote_code=target.trust_remote_code)
    multimodal = _is_multimodal(config)
    model_class = AutoModelForImageTextToText if multimodal else AutoModelForCausalLM
    model = model_class.from_pretrained(
        source,
        revision=target.revision,
        dtype=dtype,
        attn_implementation=target.attn_implementation,
        trust_remote_code=target.trust_remote_code,
    ).to(target.device)
    processor = (AutoProcessor if multimodal else AutoTokenizer).from_pretrained(
        source, revision=target.revision, trust_remote_code=target.trust_remote_code
    )
    weights = "random (built-in model)" if preset is TINY_LLAVA else "pretrained"
    tokenizer_kind = "synthetic stand-in (built-in model)" if preset is TINY_LLAVA else "model's own"
    return _finish(model, processor, multimodal, {"weights": weights, "config_source": source, "tokenizer": tokenizer_kind})


def _build_replica(target: LocalTarget, preset: Preset | None, dtype: torch.dtype) -> LoadedModel:
    if preset is not None:
        raw = preset.model_config()
        config_source = f"preset {preset.name}: {preset.description}"
    else:
        source = _source(target, None)
        raw = AutoConfig.from_pretrained(source, revision=target.revision, trust_remote_code=target.trust_remote_code).to_dict()
        config_source = source
    raw = scaled_config(raw, text_layers=target.text_layers, vision_layers=target.vision_layers)
    config = to_pretrained_config(raw)
    config._attn_implementation = target.attn_implementation
    multimodal = _is_multimodal(config)
    if not multimodal:
        raise InputError(
            f"no_weights replicas are built for vision-language models; {target.model!r} is not one: "
            "set target.no_weights=false to load its weights, or give a vision-language model's config"
        )
    model = build_random_model(config, dtype=dtype, device=target.device)
    if preset is not None:
        processor = build_preset_processor(preset, raw["vocab_size"])
        tokenizer_kind = "synthetic stand-in (preset)"
    else:
        processor = AutoProcessor.from_pretrained(source, revision=target.revision, trust_remote_code=target.trust_remote_code)
        tokenizer_kind = "model's own"
    info = {"weights": "random (no_weights replica)", "config_source": config_source, "tokenizer": tokenizer_kind}
    return _finish(model, processor, multimodal, info)


def _neutralise_generation_defaults(model: Any, tokenizer: Any, info: dict[str, Any]) -> None:
    """Keep only the token ids of the checkpoint's generation_config.json.

    generate() fills every setting a call leaves unset from the model's generation config, so a
    shipped repetition penalty, n-gram ban, minimum length or `use_cache: false` would silently
    change what is measured. The model gets a config with only bos/eos/pad ids; what it shipped is
    recorded in the cell's info.
    """
    shipped = model.generation_config
    info["shipped_generation_config"] = {k: v for k, v in shipped.to_diff_dict().items() if k != "transformers_version"}
    eos = shipped.eos_token_id if shipped.eos_token_id is not None else tokenizer.eos_token_id
    model.generation_config = GenerationConfig(
        bos_token_id=shipped.bos_token_id, eos_token_id=eos, pad_token_id=tokenizer.pad_token_id
    )


def _is_multimodal(config: Any) -> bool:
    return config.model_type in MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES or hasattr(config, "vision_config")


def _finish(model: Any, processor: Any, multimodal: bool, info: dict[str, Any]) -> LoadedModel:
    model.eval()
    tokenizer = processor.tokenizer if multimodal else processor
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    _neutralise_generation_defaults(model, tokenizer, info)
    image_token_id = None
    if multimodal:
        image_token_id = getattr(processor, "image_token_id", None)
        if image_token_id is None:
            image_token_id = getattr(model.config, "image_token_id", getattr(model.config, "image_token_index", None))
    info["parameters"] = sum(p.numel() for p in model.parameters())
    info["model_class"] = type(model).__name__
    return LoadedModel(model, processor, tokenizer, multimodal, image_token_id, info)
