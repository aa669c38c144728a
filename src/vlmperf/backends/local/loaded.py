"""A loaded model: what every part of the local backend passes around (loading makes it; inputs,
generation, speculative decoding and the measurement read it). A module of its own, so none of them
imports another just for the type."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from vlmperf.backends.local.target import LocalTarget

if TYPE_CHECKING:
    from vlmperf.backends.local.speculative import Speculative


@dataclass
class LoadedModel:
    """A model ready to generate, its processor (or tokenizer), and what was loaded."""

    model: Any
    processor: Any
    tokenizer: Any
    multimodal: bool
    image_token_id: int | None
    info: dict[str, Any] = field(default_factory=dict)
    compile_config: Any = None
    """transformers' CompileConfig for the decoding steps (None: not compiled); one object per model, so
    generate() reuses its compiled function across calls."""
    speculative: Speculative | None = None
    target: LocalTarget | None = None
    """What it was loaded for (None for a draft model)."""
