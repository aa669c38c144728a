"""Turn samples into one left-padded model batch, through the model's own processor and chat template.

Each sample brings its own list of images (one list per sample, so samples with different image
counts batch correctly). The text prompt is fitted to `max_input_len` tokens before the template is
applied, cutting only what its task lets be cut (`prompt_budget`): image tokens are never cut, and
how many text tokens were cut, and from which fields, is recorded per sample. A prompt's system
sentence (`workload.system_prompt`) goes to the chat template as a system message; a template that
drops it is an error, not a silent omission.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from vlmperf.backends.local.loaded import LoadedModel
from vlmperf.backends.local.prompt_budget import fit_prompt
from vlmperf.errors import InputError
from vlmperf.workloads.prompt import Prompt
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
    truncated_fields: list[list[str]] | None = None
    """Per sample, the prompt fields cut to fit max_input_len, first to last (`end`: a plain prompt cut at its end)."""


Content = str | list[dict[str, str]]
"""A chat message's content: its text, or its parts (`{"type": "image"}`, `{"type": "text", "text": ...}`)."""


def chat_text(loaded: LoadedModel, sample: Sample, prompt: str, system: str | None = None) -> str:
    """The prompt in the model's own chat template, after a system message when `system` is given
    (a text-only model without a template reads the prompt raw, after the system sentence and a space)."""
    owner = loaded.processor
    has_template = getattr(owner, "chat_template", None) is not None
    if not loaded.multimodal:
        if not has_template:
            return f"{system} {prompt}" if system else prompt
        user: Content = prompt
    else:
        if not has_template:
            raise InputError(
                "this model's processor has no chat template, so vlmperf cannot place images and text for it; "
                "use a model whose processor ships one (most -hf / -Instruct models do)"
            )
        user = [{"type": "image"} for _ in sample.images] + [{"type": "text", "text": prompt}]
    messages: list[dict[str, Content]] = [{"role": "user", "content": user}]
    if system:
        said: Content = [{"type": "text", "text": system}] if loaded.multimodal else system
        messages.insert(0, {"role": "system", "content": said})
    text = owner.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    if system and system not in text:
        raise InputError(
            "this model's chat template drops system messages, so workload.system_prompt would not reach the model; "
            "leave system_prompt out for this model, or give it a template that writes system messages"
        )
    return text


def prepare_batch(
    loaded: LoadedModel, samples: list[Sample], prompts: list[Prompt | str], *, max_input_len: int | None, device: str
) -> PreparedBatch:
    """Processor outputs for a batch, moved to the device, floating tensors in the model's dtype.

    `prompts` are the task's structured prompts (cut by field, with their system sentence) or
    plain strings (cut at the end, no system sentence)."""
    cut = [fit_prompt(loaded.tokenizer, p, max_input_len, s.id) for s, p in zip(samples, prompts, strict=True)]
    texts = [
        chat_text(loaded, sample, fitted.text, prompt.system if isinstance(prompt, Prompt) else None)
        for sample, prompt, fitted in zip(samples, prompts, cut, strict=True)
    ]
    bos = loaded.tokenizer.bos_token
    add_special_tokens = not (bos and all(text.startswith(bos) for text in texts))  # the template may add BOS itself
    if loaded.multimodal:
        images = [list(sample.images) for sample in samples]
        has_images = any(images)
        if has_images and not all(images):
            raise InputError("a batch mixes samples with and without images; run them as separate workloads")
        encoded = loaded.processor(
            images=images if has_images else None,
            text=texts,
            padding=True,
            return_tensors="pt",
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
    vision = (
        (input_ids == loaded.image_token_id).sum(dim=1)
        if loaded.image_token_id is not None
        else torch.zeros(len(samples))
    )
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
        truncated_tokens=[fitted.cut_tokens for fitted in cut],
        prompt_length=int(input_ids.shape[1]),
        truncated_fields=[list(fitted.cut_fields) for fitted in cut],
    )
