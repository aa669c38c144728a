"""Dataset sources: where a workload's samples come from, in a registry, plus input shaping.

Samples are loaded and images decoded and resized once per workload, before any timing. A
dataset source also reports the samples it could not use (an undecodable image, say), which the
run records as failed samples, and its provenance (dataset, resolved revision, split, seed, the
selected indices), which is recorded with every figure computed on it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from PIL import Image

from vlmperf.config.spec import Workload
from vlmperf.errors import InputError
from vlmperf.workloads.builtin import load_builtin_samples
from vlmperf.workloads.procedural import generate_samples
from vlmperf.workloads.sample import Sample
from vlmperf.workloads.tasks import Task, get_task

PROCEDURAL_DEFAULT_COUNT = 16


@dataclass(frozen=True)
class LoadedWorkload:
    """A workload's usable samples, the ones that failed (id and reason), and where they came from."""

    samples: list[Sample]
    failed: list[dict[str, Any]] = field(default_factory=list)
    provenance: dict[str, Any] | None = None


def _column_preset(task: Task) -> str:
    """The generic column map of a task without a dataset preset (every task names one or the other)."""
    if task.column_preset is None:
        raise RuntimeError(f"task {task.name!r} names neither a dataset preset nor a column preset")
    return task.column_preset


def _dataset(workload: Workload) -> LoadedWorkload:
    from vlmperf.workloads.datasets import load_dataset_samples
    from vlmperf.workloads.datasets.presets import GENERIC_COLUMNS, get_preset

    task = get_task(workload.task)
    preset = get_preset(task.dataset_preset) if task.dataset_preset else None
    source = workload.dataset or (preset.source if preset else None)
    if source is None:
        raise InputError(
            f"workload.source dataset with task {task.name!r} needs workload.dataset (kind and path): "
            "only coco-caption, textvqa and scienceqa-img have a default dataset"
        )
    columns = workload.columns or (preset.columns if preset else GENERIC_COLUMNS[_column_preset(task)])
    fallback_paths = preset.fallback_paths if preset and workload.dataset is None else ()  # a user's id: as given
    subset = load_dataset_samples(
        source.model_copy(update={"limit": workload.limit, "seed": workload.seed}),
        columns,
        fallback_paths=fallback_paths,
    )
    failed = [{"id": f.id, "index": f.index, "reason": f.reason} for f in subset.failed]
    return LoadedWorkload(subset.samples, failed, subset.provenance.to_dict())


SOURCES: dict[str, Callable[[Workload], LoadedWorkload]] = {
    "builtin": lambda w: LoadedWorkload(load_builtin_samples(limit=w.limit)),
    "procedural": lambda w: LoadedWorkload(generate_samples(w.limit or PROCEDURAL_DEFAULT_COUNT, seed=w.seed)),
    "dataset": _dataset,
}


def resize_longer_side(image: Image.Image, size: int) -> Image.Image:
    """Resize so the longer side is `size` pixels, keeping the aspect ratio (bicubic)."""
    width, height = image.size
    scale = size / max(width, height)
    new_size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return image if new_size == image.size else image.resize(new_size, Image.Resampling.BICUBIC)


def _check_task_fits(task: Task, samples: list[Sample]) -> None:
    if task.needs_question:
        missing = [s.id for s in samples if not s.references.question]
        if missing:
            raise InputError(
                f"task {task.name!r} needs a question, and samples {missing[:5]} have none: "
                "use data with questions, or a task that asks none (caption, coco-caption)"
            )


def load_workload(workload: Workload) -> LoadedWorkload:
    """The workload's samples with images resized (or dropped, for a text-only task); a source with no
    usable sample is an InputError."""
    loaded = SOURCES[workload.source](workload)
    if not loaded.samples:
        why = f" ({len(loaded.failed)} failed, first: {loaded.failed[0]['reason']})" if loaded.failed else ""
        raise InputError(
            f"workload source {workload.source!r} gave no usable samples{why}: check workload.limit and the data"
        )
    task = get_task(workload.task)
    _check_task_fits(task, loaded.samples)
    if not task.sends_images:
        return replace(loaded, samples=[replace(s, images=()) for s in loaded.samples])
    if workload.image_size is None:
        return loaded
    resized = [
        replace(s, images=tuple(resize_longer_side(im, workload.image_size) for im in s.images)) for s in loaded.samples
    ]
    return replace(loaded, samples=resized)


def load_samples(workload: Workload) -> list[Sample]:
    """Just the usable samples of a workload."""
    return load_workload(workload).samples
