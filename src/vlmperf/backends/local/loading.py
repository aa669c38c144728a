"""Resolve a local target's model reference and load it (or build its random-weight replica).

A reference is one of: a preset (`builtin:tiny-llava`, `llava-1.5-7b`, or a hub id a preset
replicates, with `no_weights`), a local folder holding a saved model, or a hub id. Vision-language
models load with AutoModelForImageTextToText + AutoProcessor; text-only causal LMs with
AutoModelForCausalLM + AutoTokenizer.

What the machine cannot run (a missing GPU, package or compiler) fails here, at load time, so it
fails the cells that ask for it and not the sweep. The optimisations a target asks for are set up
here too: quantization while loading, CPU threads, and the compile and speculative settings that
`generate.generation_config` / `generate.generate_kwargs` hand to each generate call.
"""

from __future__ import annotations

import json
import re
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

from vlmperf.backends.local.availability import check_target
from vlmperf.backends.local.compile import (
    check_compile_fits,
    check_model_compiles,
    compile_config,
    compile_info,
    fresh_compile_state,
)
from vlmperf.backends.local.loaded import LoadedModel
from vlmperf.backends.local.presets import TINY_LLAVA, Preset, find_preset, preset_names
from vlmperf.backends.local.quantize import (
    pretrained_quantization_config,
    quantization_info,
    quantize_built_model,
    reload_quantized,
)
from vlmperf.backends.local.replica import (
    build_preset_processor,
    build_random_model,
    saved_preset_dir,
    scaled_config,
    to_pretrained_config,
)
from vlmperf.backends.local.speculative import Speculative, assistant_target, check_same_vocabulary
from vlmperf.backends.local.target import LocalTarget
from vlmperf.errors import InputError

DTYPES: dict[str, torch.dtype] = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
transformers_logging.disable_progress_bar()  # the run has its own progress bar

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_DEFAULT_THREADS = torch.get_num_threads()
"""torch's own intra-op thread count on this machine, restored for targets that do not set threads."""


def is_local_path(model: str) -> bool:
    try:
        exists = Path(model).exists()
    except OSError as exc:  # a name the file system refuses (too long, ...): not a folder it holds
        raise InputError(
            f"model {model[:80]!r} cannot be a folder here ({exc.strerror}): give a hub id or a folder"
        ) from None
    return model.startswith(("/", "./", "../", "~")) or exists or not _HUB_ID.match(model)


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
        check_remote_code(path / "config.json", target)


def check_remote_code(config_file: Path, target: LocalTarget) -> None:
    """Refuse, before any run, a model whose architecture exists only as code shipped with it, unless the
    target trusts that code. With `trust_remote_code` (off by default) transformers imports and runs the
    Python files beside the weights, with this user's rights; without it such a model cannot load, and
    transformers' own refusal would fail every cell only after the run was created. (A hub id is not
    read here: that would need the network before the run.)"""
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(
            f"{config_file} cannot be read as JSON ({exc}): give a folder saved with save_pretrained"
        ) from None
    if not isinstance(config, dict):
        raise InputError(f"{config_file} is not a JSON object: give a folder saved with save_pretrained")
    model_type = config.get("model_type")
    if config.get("auto_map") and model_type not in CONFIG_MAPPING and not target.trust_remote_code:
        raise InputError(
            f"model {target.model!r} ({str(model_type)[:80]!r}) needs the Python code shipped with it, which vlmperf "
            "runs only with target.trust_remote_code: true; set it if you trust that code"
        )


def _source(target: LocalTarget, preset: Preset | None) -> str:
    """Where from_pretrained reads: the built-in model's cache folder, a local folder, or a hub id."""
    if preset is TINY_LLAVA:
        return str(saved_preset_dir(preset))
    if is_local_path(target.model):
        return str(Path(target.model).expanduser())
    return target.model


def check_model_references(target: LocalTarget) -> None:
    """The target's model and, with speculative: assistant, its draft model (both before any work)."""
    check_model_reference(target)
    if target.assistant_model is not None:
        check_model_reference(assistant_target(target))


def set_threads(threads: int | None) -> dict[str, Any]:
    """Set torch's intra-op CPU threads (None: torch's default here) and say what torch now uses.

    The setting is process-wide, so a target without `threads` gets the default back rather than
    whatever the previous cell set. Inter-op threads can only be set before torch's first parallel
    work, so they are recorded, not set.
    """
    torch.set_num_threads(threads or _DEFAULT_THREADS)
    return {
        "requested": threads,
        "intra_op_threads": torch.get_num_threads(),
        "interop_threads": torch.get_num_interop_threads(),
        "default_intra_op_threads": _DEFAULT_THREADS,
    }


def load_model(target: LocalTarget) -> LoadedModel:
    """Load (or build) the target's model on its device and dtype, in eval mode, with its optimisations.

    Raises InputError, before reading any weights, when this machine cannot run the target.
    """
    check_target(target)
    check_compile_fits(target)
    threads = set_threads(target.threads)
    if target.compile != "off":
        fresh_compile_state()
    loaded = _load(target)
    loaded.info.setdefault("quantization", None)
    loaded.info["threads"] = threads
    _set_up_compile(loaded, target.compile, target.device)
    _set_up_speculative(loaded, target)
    loaded.target = target
    return loaded


def _set_up_compile(loaded: LoadedModel, mode: str, device: str) -> None:
    check_model_compiles(loaded.model, mode)
    loaded.compile_config = compile_config(mode) if mode != "off" else None
    loaded.info["compile"] = compile_info(loaded.compile_config, device)


def _set_up_speculative(loaded: LoadedModel, target: LocalTarget) -> None:
    """Load the draft model (same loader, device, dtype) and route generate through the observed path."""
    if target.speculative != "off":
        draft = None
        if target.assistant_model is not None:
            draft = _load(assistant_target(target))
            check_same_vocabulary(loaded, draft, target.assistant_model)
        loaded.speculative = Speculative(target.speculative, target.draft_tokens, draft, loaded.image_token_id)
        loaded.speculative.install(loaded.model)
    loaded.info["speculative"] = loaded.speculative.info if loaded.speculative is not None else None


def _load(target: LocalTarget) -> LoadedModel:
    dtype = DTYPES[target.dtype]
    preset = find_preset(target.model)
    if target.no_weights:
        return _build_replica(target, preset, dtype)
    source = _source(target, preset)
    config = AutoConfig.from_pretrained(source, revision=target.revision, trust_remote_code=target.trust_remote_code)
    multimodal = _is_multimodal(config)
    model_class = AutoModelForImageTextToText if multimodal else AutoModelForCausalLM
    quantization = pretrained_quantization_config(target.quantization, dtype)
    placement = {"quantization_config": quantization, "device_map": {"": target.device}} if quantization else {}
    model = model_class.from_pretrained(
        source,
        revision=target.revision,
        dtype=dtype,
        attn_implementation=target.attn_implementation,
        trust_remote_code=target.trust_remote_code,
        **placement,
    )
    if not quantization:
        # transformers decorates `to` with functools.wraps, and typeshed's _Wrapped binds no `self`
        model = model.to(target.device)  # type: ignore[arg-type]
    processor = (AutoProcessor if multimodal else AutoTokenizer).from_pretrained(
        source, revision=target.revision, trust_remote_code=target.trust_remote_code
    )
    weights = "random (built-in model)" if preset is TINY_LLAVA else "pretrained"
    tokenizer_kind = "synthetic stand-in (built-in model)" if preset is TINY_LLAVA else "model's own"
    info: dict[str, Any] = {"weights": weights, "config_source": source, "tokenizer": tokenizer_kind}
    if quantization:
        info["quantization"] = quantization_info(model, target.quantization, "from_pretrained quantization_config")
    return _finish(model, processor, multimodal, info)


def _build_replica(target: LocalTarget, preset: Preset | None, dtype: torch.dtype) -> LoadedModel:
    if preset is not None:
        raw = preset.model_config()
        config_source = f"preset {preset.name}: {preset.description}"
    else:
        source = _source(target, None)
        raw = AutoConfig.from_pretrained(
            source, revision=target.revision, trust_remote_code=target.trust_remote_code
        ).to_dict()
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
    model, quantization = _random_model(config, target, dtype)
    if preset is not None:
        processor = build_preset_processor(preset, raw["vocab_size"])
        tokenizer_kind = "synthetic stand-in (preset)"
    else:
        processor = AutoProcessor.from_pretrained(
            source, revision=target.revision, trust_remote_code=target.trust_remote_code
        )
        tokenizer_kind = "model's own"
    info: dict[str, Any] = {
        "weights": "random (no_weights replica)",
        "config_source": config_source,
        "tokenizer": tokenizer_kind,
    }
    if quantization is not None:
        info["quantization"] = quantization
    return _finish(model, processor, multimodal, info)


def _random_model(config: Any, target: LocalTarget, dtype: torch.dtype) -> tuple[Any, dict[str, Any] | None]:
    """The replica with random weights, quantized as the target asks, and what was quantized."""
    kind = target.quantization
    if kind.startswith("bnb-"):  # bitsandbytes quantizes while from_pretrained moves weights to the GPU
        built = build_random_model(config, dtype=dtype, device="cpu")
        model = reload_quantized(
            built,
            kind,
            dtype=dtype,
            device=target.device,
            attn_implementation=target.attn_implementation,
            model_class=AutoModelForImageTextToText,
        )
        return model, quantization_info(
            model, kind, "replica saved and loaded back with from_pretrained quantization_config"
        )
    model = build_random_model(config, dtype=dtype, device=target.device)
    if kind == "torchao-int8":
        quantize_built_model(model)
        return model, quantization_info(model, kind, "torchao quantize_ on the built replica")
    return model, None


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
