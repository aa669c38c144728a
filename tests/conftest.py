"""Fixtures shared by the test modules."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def vlmperf_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One VLMPERF_CACHE folder for the whole session, so the built-in tiny model is built once."""
    return tmp_path_factory.mktemp("vlmperf-cache")


@pytest.fixture(scope="session")
def vlmperf_env(vlmperf_cache: Path) -> dict[str, str]:
    """The environment for `vlmperf` subprocesses: the session's model cache, no colour codes."""
    env = {**os.environ, "VLMPERF_CACHE": str(vlmperf_cache), "NO_COLOR": "1", "TERM": "dumb"}
    env.pop("FORCE_COLOR", None)
    return env
