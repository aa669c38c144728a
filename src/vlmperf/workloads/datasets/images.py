"""Turn whatever a dataset stores in an image column into decoded RGB images, once, before any timing.

Hub and parquet image columns arrive as `{"bytes", "path"}` structs (we read them with
`Image(decode=False)` so that a broken image fails here, per row, not inside `datasets`), or as
PIL images, raw bytes, or a path; jsonl and imagefolder rows hold paths. A value that cannot be
decoded raises `ImageDecodeError`, which the caller turns into a failed sample.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from PIL import Image

_DECODE_ERRORS = (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError)


class ImageDecodeError(Exception):
    """One image value could not be read or decoded; the message says which and why."""


def decode_images(value: Any, image_root: Path | None) -> tuple[Image.Image, ...]:
    """All images in one cell: none for None, one for a single value, several for a list."""
    if value is None:
        return ()
    if isinstance(value, (list, tuple)):
        return tuple(image for item in value for image in decode_images(item, image_root))
    return (decode_rgb(value, image_root),)


def decode_rgb(value: Any, image_root: Path | None) -> Image.Image:
    """Decode one image value fully as RGB, so later use never touches bytes or files again."""
    if isinstance(value, Image.Image):
        return _to_rgb(value, "in-memory image")
    if isinstance(value, dict):
        data, path = value.get("bytes"), value.get("path")
        if data is not None:
            return _open(io.BytesIO(data), f"image bytes{f' ({path})' if path else ''}")
        if path:
            return _open_path(path, image_root)
        raise ImageDecodeError("the image cell has neither bytes nor a path")
    if isinstance(value, (bytes, bytearray, memoryview)):
        return _open(io.BytesIO(bytes(value)), "image bytes")
    if isinstance(value, (str, Path)):
        return _open_path(value, image_root)
    raise ImageDecodeError(f"the image cell holds {type(value).__name__}, not an image, bytes or a path")


def _open_path(path: str | Path, image_root: Path | None) -> Image.Image:
    """Open a path, relative ones from `image_root`."""
    full = Path(path)
    if not full.is_absolute() and image_root is not None:
        full = image_root / full
    if not full.is_file():
        raise ImageDecodeError(f"no image file at {full}")
    with full.open("rb") as handle:
        return _open(handle, str(full))


def _open(handle: Any, what: str) -> Image.Image:
    try:
        with Image.open(handle) as image:
            return _to_rgb(image, what)
    except ImageDecodeError:
        raise
    except _DECODE_ERRORS as exc:
        raise ImageDecodeError(f"{what} is not a decodable image ({type(exc).__name__}: {exc})") from exc


def _to_rgb(image: Image.Image, what: str) -> Image.Image:
    try:
        rgb = image.convert("RGB")
        rgb.load()
    except _DECODE_ERRORS as exc:
        raise ImageDecodeError(f"{what} is not a decodable image ({type(exc).__name__}: {exc})") from exc
    return rgb
