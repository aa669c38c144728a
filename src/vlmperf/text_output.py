"""A command's text, to stdout or to the file given with `-o`: one place, so every command fails alike."""

from __future__ import annotations

import sys
from pathlib import Path

from vlmperf.errors import InputError


def write_text_output(text: str, output: Path | None) -> Path | None:
    """Write `text` to stdout (output None) or to `output`; returns the file written, or None.

    A file that cannot be written is an InputError saying what to give instead.
    """
    if output is None:
        sys.stdout.write(text)
        return None
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InputError(
            f"cannot write {output} ({exc.strerror or exc}): give -o a file in an existing, writable folder"
        ) from exc
    return output
