"""Dataset sources: where a workload's samples come from, in a registry, plus input shaping.

Samples are loaded and images decoded and resized once per workload, before any timing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from PIL import Image

from vlmperf.config.spec import Workload
from vlmperf.errors import InputError
from vlmperf.workloads.builtin import load_builtin_samples
from vlmperf.workloads.procedural import generate_samples
from vlmperf.workloads.sample import Sample
from vlmperf.workloads.tasks import get_task

PROCEDURAL_DEFAULT_COUNT = 16

SOURCES: dict[str, Callable[[Workload], list[Sample]]] = {
    "builtin": lambda w: load_builtin_samples(limit=w.limit),
    "procedural": lambda w: generate_samples(w.limit or PROCEDURAL_DEFAULT_COUNT, seed=w.seed),
}


def resize_longer_side(image: Image.Image, size: int) -> Image.Image:
    """Resize so the longer side is `size` pixels, keeping the aspect ratio (bicubic)."""
    width, height = image.size
    scale = size / max(width, height)
    new_size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return image if new_size == image.size else image.resize(new_size, Image.Resampling.BICUBIC)


def load_samples(workload: Workload) -> list[Sample]:
    """The workload's samples with images resized; an empty or unusable source is an InputError."""
    samples = SOURCES[workload.source](workload)
    if not samples:
        raise InputError(f"workload source {workload.source!r} gave no samples: check workload.limit and the data")
    task = get_task(workload.task)
    if task.needs_question:
        missing = [s.id for s in samples if not s.references.question]
        if missing:
            raise InputError(f"task {task.name!r} needs a question, and samples {missing[:5]} have none")
    if workload.image_size is not None:
        samples = [
            replace(s, images=tuple(resize_longer_side(im, workload.image_size) for im in s.images)) for s in samples
        ]
    return samples
