"""Turn whatever a dataset stores in an image column into decoded RGB images, once, before any timing.

Hub and parquet image columns arrive as `{"bytes", "path"}` structs (we read them with
`Image(decode=False)` so that a broken image fails here, per row, not inside `datasets`), or as
PIL images, raw bytes, or a path; jsonl and imagefolder rows hold paths. A value that cannot be
decoded raises `ImageDecodeError`, which the caller turns into a failed sample.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

_DECODE_ERRORS = (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError)


class ImageDecodeError(Exception):
    """One image value could not be read or decoded; the message says which and why."""


@dataclass(frozen=True)
class ImageRoot:
    """Where a dataset file's relative image paths start, and whether its paths must stay there.

    A dataset file is input from elsewhere: an image path such as `../../../../etc/passwd`, or an
    absolute one, would make vlmperf read any file this user can. So by default a path must resolve
    (symbolic links followed) inside `folder`; `confined=False` (the dataset's `allow_paths_outside`)
    reads absolute paths and paths leading out of it as they are.
    """

    folder: Path
    confined: bool = True

    def locate(self, path: str | Path) -> Path:
        """The file a dataset's image path names; ImageDecodeError when it leaves the folder while confined."""
        given = Path(path)
        full = given if given.is_absolute() else self.folder / given
        if self.confined:
            inside = full.resolve()
            if not inside.is_relative_to(self.folder.resolve()):
                shown = str(path)[:200]
                raise ImageDecodeError(
                    f"image path {shown!r} leads outside the dataset's folder {self.folder}; "
                    "set the dataset's allow_paths_outside: true to read it"
                )
        return full


def decode_images(value: Any, image_root: ImageRoot | None) -> tuple[Image.Image, ...]:
    """All images in one cell: none for None, one for a single value, several for a list."""
    if value is None:
        return ()
    if isinstance(value, (list, tuple)):
        return tuple(image for item in value for image in decode_images(item, image_root))
    return (decode_rgb(value, image_root),)


def decode_rgb(value: Any, image_root: ImageRoot | None) -> Image.Image:
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


def _open_path(path: str | Path, image_root: ImageRoot | None) -> Image.Image:
    """Open a path from a dataset, relative ones from `image_root` (and confined to it, `ImageRoot`)."""
    full = image_root.locate(path) if image_root is not None else Path(path)
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
