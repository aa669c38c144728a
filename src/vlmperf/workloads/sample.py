"""The unit of work every backend consumes and every scorer reads.

A sample is backend-neutral: images are PIL images (decoded once, before any timing), the
prompt is plain text, and references carry what a scorer needs (captions, the answers of a VQA
question, the right choice of a multiple-choice question).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from PIL import Image


@dataclass(frozen=True)
class References:
    """What a correct answer looks like; every field is optional because tasks need different ones."""

    captions: tuple[str, ...] = ()
    question: str | None = None
    answers: tuple[str, ...] = ()
    choices: tuple[str, ...] = ()
    answer_index: int | None = None


@dataclass(frozen=True)
class Sample:
    """One unit of work: an id, zero or more images, references, and where it came from."""

    id: str
    images: tuple[Image.Image, ...]
    references: References = field(default_factory=References)
    meta: dict[str, Any] = field(default_factory=dict)
