"""docs/architecture.md names real files and every package folder (it must not drift from the tree)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "architecture.md"
PACKAGE = ROOT / "src" / "vlmperf"
PATH_PREFIXES = ("src/", "tests/", "benchmarks/", "docs/")
PLACEHOLDER = re.compile(r"[<>*{}]")
"""A span holding one of these names a file to create (`src/vlmperf/meters/<name>.py`), not one that exists."""


def code_spans(text: str) -> list[str]:
    """The text of every inline code span, fenced blocks left out."""
    prose = re.sub(r"^```.*?^```", "", text, flags=re.M | re.S)
    return re.findall(r"`([^`\n]+)`", prose)


def written_paths(text: str) -> list[str]:
    """The code spans that are repository paths (placeholders for files to create left out)."""
    return [
        span.strip()
        for span in code_spans(text)
        if span.strip().startswith(PATH_PREFIXES) and " " not in span.strip() and not PLACEHOLDER.search(span)
    ]


def package_folders() -> list[str]:
    """Folders under src/vlmperf that hold Python modules (data-only folders and caches left out)."""
    folders = [PACKAGE, *(p for p in PACKAGE.rglob("*") if p.is_dir() and "__pycache__" not in p.parts)]
    return sorted(p.relative_to(ROOT).as_posix() for p in folders if any(p.glob("*.py")))


def test_the_doc_names_paths_at_all():
    paths = written_paths(DOC.read_text())
    assert len(paths) > 50, "the doc names its modules by repository path"
    assert "src/vlmperf/backends/registry.py" in paths


def test_every_path_written_in_the_doc_exists():
    missing = sorted({path for path in written_paths(DOC.read_text()) if not (ROOT / path.rstrip("/")).exists()})
    assert missing == [], f"docs/architecture.md names paths that do not exist: {missing}"


def test_every_package_folder_is_named():
    named = {path.rstrip("/") for path in written_paths(DOC.read_text())}
    folders = package_folders()
    assert "src/vlmperf/backends/local" in folders and "src/vlmperf/report/html/static" not in folders
    missing = [folder for folder in folders if folder not in named]
    assert missing == [], f"docs/architecture.md does not name these package folders: {missing}"


def test_placeholders_are_not_taken_for_paths():
    spans = code_spans("see `src/vlmperf/meters/<name>.py` and `src/vlmperf/api.py`\n```\n`docs/x.md`\n```\n")
    assert written_paths("\n".join(f"`{s}`" for s in spans)) == ["src/vlmperf/api.py"]
