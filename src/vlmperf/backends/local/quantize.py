"""Weight quantisation of a local model: torchao int8 weight-only, bitsandbytes 8-bit and 4-bit nf4.

Which layers: every nn.Linear except the output head (lm_head), in the language model, the
projector and the vision tower alike. That is transformers' default for its quantizers, and
no_weights replicas follow the same rule, so a replica and a loaded checkpoint are quantized the
same way. What was quantized is read back from the model afterwards and recorded, never assumed.

How, per loading path:
- from_pretrained: transformers' `quantization_config` (TorchAoConfig, BitsAndBytesConfig), with
  `device_map` instead of `.to(device)` (bitsandbytes models cannot be moved after loading);
- no_weights replicas, torchao: `torchao.quantization.quantize_` on the built model;
- no_weights replicas, bitsandbytes: the replica is built on the CPU, saved, and loaded back
  through from_pretrained with its config, because bitsandbytes quantizes as weights are moved
  to the GPU while loading. This needs free disk as large as the replica, for the moment it loads.

torchao is asked not to change torch's inductor settings (`set_inductor_config=False`): they are
process-wide, so every cell compiled after an int8 cell would be compiled differently.
"""

from __future__ import annotations

import tempfile
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from transformers import PreTrainedModel

SCHEMES = {
    "torchao-int8": "int8 weights, symmetric per output channel; activations stay in the model dtype "
    "(torchao Int8WeightOnlyConfig)",
    "bnb-8bit": "LLM.int8(): int8 weights, outlier activation columns in fp16 (bitsandbytes, threshold 6.0)",
    "bnb-4bit": "4-bit NormalFloat (nf4) weights in blocks of 64, computed in the model dtype (bitsandbytes)",
}

OUTPUT_HEAD_REASON = (
    "output head: kept in full precision, as transformers' quantizers do by default (it projects to the "
    "vocabulary logits, where quantization error changes the chosen token most)"
)


def _torchao_config() -> Any:
    from torchao.quantization import Int8WeightOnlyConfig

    return Int8WeightOnlyConfig(set_inductor_config=False)


def pretrained_quantization_config(kind: str, dtype: torch.dtype) -> Any:
    """The `quantization_config` from_pretrained takes for this method (None for none)."""
    if kind == "none":
        return None
    if kind == "torchao-int8":
        from transformers import TorchAoConfig

        return TorchAoConfig(_torchao_config())
    from transformers import BitsAndBytesConfig

    if kind == "bnb-8bit":
        return BitsAndBytesConfig(load_in_8bit=True)
    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=dtype)


def output_head_names(model: PreTrainedModel) -> set[str]:
    """The qualified names of the model's output head (what stays in full precision)."""
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    return {name for name, module in model.named_modules() if head is not None and module is head}


def quantize_built_model(model: PreTrainedModel) -> None:
    """torchao int8 weight-only on a model built in memory (a no_weights replica), output head excluded."""
    from torchao.quantization import quantize_

    keep = output_head_names(model)
    quantize_(
        model,
        _torchao_config(),
        filter_fn=lambda module, name: isinstance(module, torch.nn.Linear) and name not in keep,
    )


def reload_quantized(
    model: Any, kind: str, *, dtype: torch.dtype, device: str, attn_implementation: str, model_class: Any
) -> Any:
    """A model built in memory, saved and loaded back through from_pretrained with the method's config."""
    with tempfile.TemporaryDirectory(prefix="vlmperf-quantize-") as folder:
        model.save_pretrained(folder)
        return model_class.from_pretrained(
            folder,
            dtype=dtype,
            attn_implementation=attn_implementation,
            quantization_config=pretrained_quantization_config(kind, dtype),
            device_map={"": device},
        )


def is_quantized(module: torch.nn.Module) -> bool:
    """A Linear whose weight is a quantized tensor (torchao subclass, bitsandbytes params) or a non-float dtype."""
    weight = getattr(module, "weight", None)
    if weight is None:
        return False
    return type(weight) not in (torch.nn.Parameter, torch.Tensor) or not weight.dtype.is_floating_point


def quantization_info(model: PreTrainedModel, kind: str, applied: str) -> dict[str, Any]:
    """What was quantized, read back from the model: counts, and every Linear left in full precision and why."""
    heads = output_head_names(model)
    quantized, full = 0, {}
    for name, module in model.named_modules():
        if not isinstance(module, torch.nn.Linear):
            continue
        if is_quantized(module):
            quantized += 1
        else:
            full[name] = OUTPUT_HEAD_REASON if name in heads else "left in full precision by the quantizer"
    if quantized == 0:
        raise RuntimeError(
            f"quantization {kind} was applied ({applied}) but no Linear layer holds quantized weights; this is a bug "
            "in vlmperf or an unsupported model: report it with the model id, or set target.quantization none"
        )
    return {
        "method": kind,
        "scheme": SCHEMES[kind],
        "applied": applied,
        "quantized_linear_layers": quantized,
        "full_precision_linear_layers": full,
        "not_linear": "embeddings, convolutions (the vision patch embedding) and norms keep the model dtype",
    }
