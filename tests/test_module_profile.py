"""Per-module profile: self times add up, classes count their instances, the table spans labels."""

from __future__ import annotations

import json

import pytest
import torch

from vlmperf.backends.local.generate import generation_config
from vlmperf.backends.local.inputs import prepare_batch
from vlmperf.backends.local.loading import load_model
from vlmperf.backends.local.target import LocalTarget
from vlmperf.config.spec import Generation, Workload
from vlmperf.meters.clock import WallClock
from vlmperf.meters.module_times import ModuleTimer, profile_generate
from vlmperf.report.module_profile import render_module_profile, render_module_profile_markdown, top_module_rows
from vlmperf.workloads.sources import load_samples

NEW_TOKENS = 4


class CountingClock(WallClock):
    def __init__(self) -> None:
        self.marks = 0
        self.syncs = 0
        self.syncs_at_marks: set[int] = set()

    def mark(self) -> int:
        self.marks += 1
        self.syncs_at_marks.add(self.syncs)
        return super().mark()

    def synchronize(self) -> None:
        self.syncs += 1


@pytest.fixture(scope="module")
def tiny(vlmperf_cache):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("VLMPERF_CACHE", str(vlmperf_cache))
        return load_model(LocalTarget())


def _generate(loaded, batch_size):
    samples = load_samples(Workload(limit=batch_size))
    batch = prepare_batch(loaded, samples, ["Describe the image."] * batch_size, max_input_len=None, device="cpu")
    config = generation_config(loaded, Generation(max_new_tokens=NEW_TOKENS, mode="fixed"))
    run = lambda: loaded.model.generate(**batch.inputs, generation_config=config)  # noqa: E731
    run()  # warm-up: first calls at new shapes are slow, and transformers installs its own hooks
    return run


def _hooks(model: torch.nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


@pytest.fixture(scope="module")
def profiles(tiny):
    """Profiles of batch 1 and batch 2, and the hook count before and after profiling."""
    runs = {size: _generate(tiny, size) for size in (1, 2)}
    before = _hooks(tiny.model)
    clock = CountingClock()
    result = {f"batch {size}": profile_generate(tiny.model, run, clock) for size, run in runs.items()}
    return result, clock, before, _hooks(tiny.model)


def test_self_times_add_up_to_the_forward_time(profiles):
    profile = profiles[0]["batch 1"]
    modules = profile["modules"]
    assert sum(m["self_s"] for m in modules) == pytest.approx(profile["total_s"], rel=1e-9)
    assert profile["prefill_s"] + profile["decode_s"] == pytest.approx(profile["total_s"], rel=1e-9)
    top = next(m for m in modules if m["name"] == "")
    assert top["class"] == "LlavaForConditionalGeneration" and top["calls"] == NEW_TOKENS
    assert profile["top_calls"] == NEW_TOKENS
    # transformers 5 encodes the image from generate, before the prompt pass: outside the top model
    assert profile["top_total_s"] <= profile["total_s"]
    for m in modules:
        assert m["self_s"] <= m["total_s"] + 1e-12
        assert m["prefill_total_s"] + m["decode_total_s"] == pytest.approx(m["total_s"], rel=1e-9)
    json.dumps(profile)  # stored in a cell's info as is


def test_classes_count_their_instances_and_phases(profiles):
    classes = {c["class"]: c for c in profiles[0]["batch 1"]["classes"]}
    clip, llama = classes["CLIPEncoderLayer"], classes["LlamaDecoderLayer"]
    assert clip["instances"] == 2 and clip["calls"] == 2, "the tiny model's 2 vision layers, once each"
    assert llama["instances"] == 2 and llama["calls"] == 2 * NEW_TOKENS
    assert clip["decode_self_s"] == 0 and clip["prefill_self_s"] > 0, "the image is encoded in prefill only"
    assert llama["decode_self_s"] > 0 and llama["prefill_self_s"] > 0
    shares = [c["share"] for c in classes.values()]
    assert sum(shares) == pytest.approx(1.0, rel=1e-9)


def test_profiling_synchronises_once_after_the_call_and_removes_its_hooks(profiles):
    _, clock, before, after = profiles
    assert clock.syncs == 2, "one synchronisation per profiled call"
    assert clock.syncs_at_marks == {0, 1}, "every mark of a call was taken before its synchronisation"
    assert after == before


def test_hooks_are_removed_when_the_call_fails(tiny):
    before = _hooks(tiny.model)
    with pytest.raises(RuntimeError, match="stop here"), ModuleTimer(tiny.model, WallClock()):
        assert _hooks(tiny.model) == before + 2 * len(list(tiny.model.modules()))
        raise RuntimeError("stop here")
    assert _hooks(tiny.model) == before


def test_top_modules_table_has_a_column_per_label(profiles):
    by_label = profiles[0]
    rows = top_module_rows(by_label, top=5)
    assert len(rows) == 6 and rows[-1]["class"].startswith("other (")
    for label in ("batch 1", "batch 2"):
        assert all(row["self_ms"][label] is not None for row in rows)
        assert sum(row["share"][label] for row in rows) == pytest.approx(1.0, rel=1e-9)
    first = [row["self_ms"]["batch 1"] for row in rows[:-1]]
    assert first == sorted(first, reverse=True)
    text = render_module_profile(by_label, top=5)
    markdown = render_module_profile_markdown(by_label, top=5)
    for rendered in (text, markdown):
        assert "batch 1 self ms" in rendered and "batch 2 self ms" in rendered and "batch 2 share" in rendered
    assert markdown.count("\n|") == 2 + len(rows)


def test_top_module_rows_needs_a_profile():
    with pytest.raises(ValueError, match="at least one profile"):
        top_module_rows({})
