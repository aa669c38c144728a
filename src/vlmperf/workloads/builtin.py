"""Built-in real photos, shipped inside the package so a benchmark runs with no download.

The photos are public domain or CC0 images from scikit-image's bundled sample data, resized to
256 px on the longer side (see ``data/builtin/LICENSES.md``). Their captions, VQA question and
multiple-choice options were written for vlmperf and live in ``data/builtin/samples.json``.

Images are decoded here, once, before any timing starts, so that file I/O and JPEG decoding never
end up inside a measured latency.
"""

from __future__ import annotations

import json
import pathlib
from importlib import resources
from typing import TYPE_CHECKING, Any

from PIL import Image

from vlmperf.errors import InputError
from vlmperf.workloads.sample import References, Sample

if TYPE_CHECKING:  # importlib.resources.abc is 3.11+; only annotations need it
    from importlib.resources.abc import Traversable

MANIFEST_NAME = "samples.json"

_REINSTALL_HINT = "reinstall vlmperf, or restore the file from the vlmperf source tree"


def builtin_data_folder() -> Traversable:
    """Where the built-in photos live inside the installed package (works from a wheel or a zip)."""
    return resources.files("vlmperf.workloads").joinpath("data", "builtin")


def load_builtin_samples(limit: int | None = None, folder: pathlib.Path | None = None) -> list[Sample]:
    """Load the built-in photos as samples, in manifest order, with their images already decoded.

    ``limit`` keeps only the first ``limit`` samples (``None`` keeps all). ``folder`` replaces the
    packaged data folder; it exists so tests can point the loader at a damaged copy.
    Raises ``InputError`` when the manifest or an image is missing or unreadable.
    """
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise InputError(f"limit must be a whole number of at least 1 or None, got {limit!r}")
    root: Traversable = folder if folder is not None else builtin_data_folder()
    entries = _read_manifest(root)
    if limit is not None:
        entries = entries[:limit]
    return [_sample_from_entry(root, entry) for entry in entries]


def _read_manifest(root: Traversable) -> list[dict[str, Any]]:
    """Parse samples.json, turning a missing or malformed manifest into an actionable error."""
    manifest = root.joinpath(MANIFEST_NAME)
    try:
        entries = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read the built-in sample list {manifest}: {exc}; {_REINSTALL_HINT}") from exc
    if not isinstance(entries, list):
        raise InputError(f"the built-in sample list {manifest} must hold a JSON list; {_REINSTALL_HINT}")
    return entries


def _sample_from_entry(root: Traversable, entry: dict[str, Any]) -> Sample:
    """Build one Sample from a manifest entry, decoding its image to RGB up front."""
    try:
        sample_id, file_name = entry["id"], entry["file"]
        references = References(
            captions=tuple(entry["captions"]),
            question=entry["question"],
            answers=tuple(entry["answers"]),
            choices=tuple(entry["choices"]),
            answer_index=entry["answer_index"],
        )
        licence = entry["licence"]
    except (KeyError, TypeError) as exc:
        raise InputError(
            f"entry {entry!r} in {root.joinpath(MANIFEST_NAME)} lacks a field ({exc}); {_REINSTALL_HINT}"
        ) from exc
    image = _decode_rgb(root.joinpath(file_name))
    meta = {"source": "builtin", "file": file_name, "licence": licence}
    return Sample(id=sample_id, images=(image,), references=references, meta=meta)


def _decode_rgb(path: Traversable) -> Image.Image:
    """Open and fully decode an image as RGB, so later use never touches the file again."""
    try:
        with path.open("rb") as handle:
            image = Image.open(handle).convert("RGB")
            image.load()
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise InputError(
            f"built-in image {path} is missing or not a readable image ({exc}); {_REINSTALL_HINT}"
        ) from exc
    return image
