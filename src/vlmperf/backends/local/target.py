"""The spec of a model loaded in this process: which model, on which device, in which dtype, with which
optimisations (compile, attention kernel, quantisation, speculative decoding), and the peaks its
limits are computed against."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, PositiveFloat, PositiveInt, field_validator, model_validator

from vlmperf.backends.local.presets import DEFAULT_MODEL
from vlmperf.backends.target_kind import TargetSpec
from vlmperf.config.errors_format import shown
from vlmperf.config.spec_base import bounded

DEVICE_PATTERN = re.compile(r"^(cpu|cuda(:\d+)?)$")


class LocalTarget(TargetSpec):
    """A model loaded in this process with transformers."""

    kind: Literal["local"] = "local"
    model: str = Field(
        DEFAULT_MODEL,
        max_length=4096,  # the longest path Linux opens
        description="hub id, local folder, or preset (builtin:tiny-llava, llava-1.5-7b, llava-hf/llava-1.5-7b-hf)",
    )
    revision: str | None = Field(None, description="hub revision (branch, tag or commit) to load")
    no_weights: bool = Field(False, description="build the architecture from its config with random weights")
    text_layers: PositiveInt | None = bounded(
        None,
        "the largest models have a few hundred layers; a bigger replica never fits in memory",
        "override the language model's layer count (no_weights only)",
        le=1024,
    )
    vision_layers: PositiveInt | None = bounded(
        None,
        "the largest models have a few hundred layers; a bigger replica never fits in memory",
        "override the vision tower's layer count (no_weights only)",
        le=1024,
    )
    dtype: Literal["fp32", "fp16", "bf16"] = "fp32"
    device: str = Field("cpu", description="cpu, cuda or cuda:N")
    attn_implementation: Literal["eager", "sdpa", "flash_attention_2"] = "sdpa"
    trust_remote_code: bool = False
    compile: Literal["off", "default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"] = Field(
        "off", description="torch.compile the model's forward with this mode (compile_s and recompiles are reported)"
    )
    quantization: Literal["none", "torchao-int8", "bnb-8bit", "bnb-4bit"] = Field(
        "none",
        description="weight quantisation: torchao int8 weight-only (cpu, cuda), bitsandbytes 8-bit or 4-bit nf4 (cuda)",
    )
    speculative: Literal["off", "assistant", "prompt-lookup"] = Field(
        "off", description="assisted generation with a draft model (assistant_model), or prompt lookup decoding"
    )
    assistant_model: str | None = Field(
        None, description="draft model for speculative: assistant (preset, folder or hub id)"
    )
    draft_tokens: PositiveInt | None = bounded(
        None,
        "drafts longer than a few dozen tokens are never accepted",
        "tokens drafted per step (assistant: num_assistant_tokens; prompt-lookup: prompt_lookup_num_tokens); "
        "default: transformers'",
        le=1024,
    )
    threads: PositiveInt | None = bounded(
        None,
        "a real study never needs more; a huge value exhausts the machine's thread limit",
        "CPU threads torch uses (default: torch's; recorded either way)",
        le=1024,
    )
    peak_flops_per_s: PositiveFloat | None = bounded(
        None,
        "a thousand times the fastest accelerator today",
        "the device's peak dense FLOP/s in this dtype, for mfu and limit_prefill_s (default: vlmperf's GPU table; "
        "none for a CPU)",
        le=1e18,
    )
    peak_memory_bandwidth_bytes_per_s: PositiveFloat | None = bounded(
        None,
        "a hundred times the fastest memory today",
        "the device's peak memory bandwidth in bytes/s, for mbu and limit_decode_s (default: vlmperf's GPU table; "
        "none for a CPU)",
        le=1e15,
    )

    @field_validator("device")
    @classmethod
    def _device_is_known(cls, value: str) -> str:
        if not DEVICE_PATTERN.match(value):
            raise ValueError(f"device must be cpu, cuda or cuda:N (got {shown(value)})")
        return value

    @model_validator(mode="after")
    def _settings_are_consistent(self) -> LocalTarget:
        if (self.text_layers or self.vision_layers) and not self.no_weights:
            raise ValueError(
                "text_layers / vision_layers build a scaled replica and need no_weights: true "
                "(loaded weights would not match the changed architecture)"
            )
        if (self.speculative == "assistant") != (self.assistant_model is not None):
            raise ValueError(
                "speculative: assistant needs assistant_model, and assistant_model needs speculative: assistant"
            )
        if self.draft_tokens is not None and self.speculative == "off":
            raise ValueError("draft_tokens applies with speculative: assistant or prompt-lookup")
        return self
