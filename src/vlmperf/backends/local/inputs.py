"""Turn samples into one left-padded model batch, through the model's own processor and chat template.

Each sample brings its own list of images (one list per sample, so samples with different image
counts batch correctly). The text prompt is cut to `max_input_len` tokens before the template is
applied: image tokens are never cut, and how many text tokens were cut is recorded per sample.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from vlmperf.backends.local.loading import LoadedModel
from vlmperf.errors import InputError
from vlmperf.workloads.sample import Sample


@dataclass
class PreparedBatch:
    """Model inputs on the device, and per-sample counts taken from them."""

    inputs: dict[str, Any]
    sample_ids: list[str]
    input_tokens: list[int]
    vision_tokens: list[int]
    truncated_tokens: list[int]
    prompt_length: int


def truncate_prompt(tokenizer: Any, prompt: str, max_tokens: int | None) -> tuple[str, int]:
    """The prompt cut to `max_tokens` tokens (without special tokens), and how many were cut."""
    if max_tokens is None:
        return prompt, 0
    ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    if len(ids) <= max_tokens:
        return prompt, 0
    return tokenizer.decode(ids[:max_tokens], skip_special_tokens=False), len(ids) - max_tokens


def _chat_text(loaded: LoadedModel, sample: Sample, prompt: str) -> str:
    """The prompt in the model's own chat template (a text-only model without one reads it raw)."""
    owner = loaded.processor
    has_template = getattr(owner, "chat_template", None) is not None
    if not loaded.multimodal:
        if not has_template:
            return prompt
        messages = [{"role": "user", "content": prompt}]
    else:
        if not has_template:
            raise InputError(
                "this model's processor has no chat template, so vlmperf cannot place images and text for it; "
                "use a model whose processor ships one (most -hf / -Instruct models do)"
            )
        content = [{"type": "image"} for _ in sample.images] + [{"type": "text", "text": prompt}]
        messages = [{"role": "user", "content": content}]
    return owner.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)


def prepare_batch(
    loaded: LoadedModel, samples: list[Sample], prompts: list[str], *, max_input_len: int | None, device: str
) -> PreparedBatch:
    """Processor outputs for a batch, moved to the device, floating tensors in the model's dtype."""
    cut = [truncate_prompt(loaded.tokenizer, prompt, max_input_len) for prompt in prompts]
    texts = [_chat_text(loaded, sample, prompt) for sample, (prompt, _) in zip(samples, cut)]
    bos = loaded.tokenizer.bos_token
    add_special_tokens = not (bos and all(text.startswith(bos) for text in texts))  # the template may add BOS itself
    if loaded.multimodal:
        images = [list(sample.images) for sample in samples]
        has_images = any(images)
        if has_images and not all(images):
            raise InputError("a batch mixes samples with and without images; run them as separate workloads")
        encoded = loaded.processor(
            images=images if has_images else None, text=texts, padding=True, return_tensors="pt",
            add_special_tokens=add_special_tokens,
        )
    else:
        if any(sample.images for sample in samples):
            raise InputError(
                f"model {loaded.info.get('config_source')!r} is a text-only language model and these samples have "
                "images; use a vision-language model, or a text workload"
            )
        encoded = loaded.tokenizer(texts, padding=True, return_tensors="pt", add_special_tokens=add_special_tokens)
    input_ids = encoded["input_ids"]
    attention = encoded["attention_mask"]
    vision = (input_ids == loaded.image_token_id).sum(dim=1) if loaded.image_token_id is not None else torch.zeros(len(samples))
    dtype = loaded.model.dtype
    inputs = {
        key: (value.to(device=device, dtype=dtype) if value.is_floating_point() else value.to(device))
        for key, value in encoded.items()
        if isinstance(value, torch.Tensor)
    }
    return PreparedBatch(
        inputs=inputs,
        sample_ids=[s.id for s in samples],
        input_tokens=attention.sum(dim=1).tolist(),
        vision_tokens=[int(v) for v in vision.tolist()],
        truncated_tokens=[n for _, n in cut],
        prompt_length=int(input_ids.shape[1]),
    )
