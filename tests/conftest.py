"""Fixtures shared by the test modules."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# A local Ray runtime listens on loopback only when this is set before Ray is first imported.
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")


@pytest.fixture(scope="session", autouse=True)
def meteor_pool():
    """In-process runs share one METEOR process (tests/fixtures/meteor_pool.py says why and how).
    At the end of the session, every METEOR handed out must have been closed by its scorer."""
    from vlmperf.scoring import captions

    from fixtures.meteor_pool import MeteorPool

    pool = MeteorPool()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(captions, "_Meteor", pool.open)
        yield pool
    left = sorted({handle.opened_by for handle in pool.left_open()})
    pool.close()
    assert not left, f"METEOR processes opened and never closed, by: {left}"


def pytest_runtest_setup(item: pytest.Item) -> None:
    from fixtures import meteor_pool

    meteor_pool.current_test = item.nodeid  # named by a METEOR left open


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


@pytest.fixture(scope="session")
def tiny_llava(vlmperf_cache: Path):
    """The built-in tiny LLaVA, loaded once for the session through the real loader (from the session's cache)."""
    from vlmperf.backends.local.loading import load_model
    from vlmperf.backends.local.target import LocalTarget

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("VLMPERF_CACHE", str(vlmperf_cache))
        yield load_model(LocalTarget())


@pytest.fixture(scope="session")
def text_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny text-only Llama saved with save_pretrained, for loading back through the real loader."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from vlmperf.backends.local.synthetic_tokenizer import build_synthetic_tokenizer

    folder = tmp_path_factory.mktemp("tiny-llama")
    config = LlamaConfig(
        vocab_size=512,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=4,
    )
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(folder)
    build_synthetic_tokenizer(512, image_token_id=3, pad_token_id=4).save_pretrained(folder)
    return folder


@pytest.fixture
def results_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, vlmperf_cache: Path) -> Path:
    """A fresh results folder for an in-process run, with the session's model cache."""
    monkeypatch.setenv("VLMPERF_CACHE", str(vlmperf_cache))
    return tmp_path / "results"


SMALL_RUN = [
    "measure.min_runs=2",
    "measure.warmup_runs=0",
    "measure.min_duration_s=0",
    "generation.max_new_tokens=3",
    "workload.limit=3",
    "sweep.grid.scenario.batch_size=[1, 3]",
]


@pytest.fixture(scope="session")
def small_run(tmp_path_factory: pytest.TempPathFactory, vlmperf_cache: Path):
    """A real run of the built-in model over batch sizes 1 and 3, and its HTML page built with the store
    (shared by the report tests; skipped without the report extra)."""
    pytest.importorskip("plotly", reason="the HTML report needs the report extra (plotly)")
    import vlmperf.api as vp
    from vlmperf.report.html import render_html
    from vlmperf.report.schema import run_document
    from vlmperf.store.sqlite import Store

    out = tmp_path_factory.mktemp("results")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("VLMPERF_CACHE", str(vlmperf_cache))
        outcome = vp.run(overrides=SMALL_RUN, out=out)
    with Store.open(out, create=False) as store:
        document = run_document(store, outcome.run_id)
        html = render_html(document, records=store)
    return out, document, html
