"""Stage breakdown of a timed generate call: the stages partition the window, hooks leave no trace."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForImageTextToText, Blip2Config, Idefics3Config, PaliGemmaConfig, Qwen2VLConfig

from vlmperf.backends.local.generate import generation_config, timed_generate
from vlmperf.backends.local.inputs import prepare_batch
from vlmperf.backends.local.loading import load_model
from vlmperf.backends.local.target import LocalTarget
from vlmperf.config.spec import Generation, Workload
from vlmperf.meters.clock import WallClock
from vlmperf.meters.stages import STAGES, StageTimer, find_stage_modules, generate_overhead_s
from vlmperf.workloads.sample import Sample
from vlmperf.workloads.sources import load_samples


@pytest.fixture(scope="module")
def tiny(vlmperf_cache):
    """The built-in model, run once so that transformers' own lazily installed hooks are in place."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("VLMPERF_CACHE", str(vlmperf_cache))
        loaded = load_model(LocalTarget())
    config = generation_config(loaded, Generation(max_new_tokens=2, mode="fixed"))
    loaded.model.generate(**_batch(loaded, 1).inputs, generation_config=config)
    return loaded


def _batch(loaded, size, images=True):
    samples = load_samples(Workload(limit=size)) if images else [Sample(id=f"t{i}", images=()) for i in range(size)]
    return prepare_batch(loaded, samples, ["Describe the image."] * size, max_input_len=None, device="cpu")


def _timed(loaded, batch, new_tokens, clock, warm_up=True):
    config = generation_config(loaded, Generation(max_new_tokens=new_tokens, mode="fixed"))
    if warm_up:
        timed_generate(loaded, batch, config, clock)
    with StageTimer(loaded.model, clock) as stages:
        result = timed_generate(loaded, batch, config, clock)
    return result, stages


def _hooks(model: torch.nn.Module) -> set[tuple[str, str, int]]:
    """Every forward hook on the model (transformers installs its own output-capturing ones on first use)."""
    return {
        (name, kind, key)
        for name, module in model.named_modules()
        for kind, hooks in (("pre", module._forward_pre_hooks), ("post", module._forward_hooks))
        for key in hooks
    }


def test_tiny_model_stages_partition_the_generate_window(tiny):
    before = _hooks(tiny.model)
    result, stages = _timed(tiny, _batch(tiny, 2), 6, WallClock())
    seconds = stages.seconds(result.latency_s)
    assert stages.top_calls == 6, "one prompt pass, then one forward call per further token"
    assert all(seconds[name] > 0 for name in STAGES), seconds
    parts = sum(seconds[name] for name in STAGES)
    assert parts <= result.latency_s, "every stage lies inside the window"
    assert seconds["generate_overhead_s"] == pytest.approx(result.latency_s - parts)
    assert seconds["generate_overhead_s"] >= 0
    assert _hooks(tiny.model) == before


@pytest.mark.slow
def test_replica_stages_sum_to_the_latency_within_5_percent(vlmperf_cache):
    loaded = load_model(LocalTarget(model="llava-1.5-7b", no_weights=True, text_layers=1, vision_layers=1))
    batch = _batch(loaded, 1)
    config = generation_config(loaded, Generation(max_new_tokens=2, mode="fixed"))
    timed_generate(loaded, batch, config, WallClock())  # warm-up at the same shapes
    result, stages = _timed(loaded, batch, 3, WallClock(), warm_up=False)
    seconds = stages.seconds(result.latency_s)
    parts = sum(seconds[name] for name in STAGES)
    assert seconds["vision_s"] > 0 and seconds["projector_s"] > 0
    assert abs(result.latency_s - parts) <= 0.05 * result.latency_s, (seconds, result.latency_s)


def test_text_only_model_has_no_vision_or_projector(text_model_dir):
    loaded = load_model(LocalTarget(model=str(text_model_dir)))
    result, stages = _timed(loaded, _batch(loaded, 1, images=False), 3, WallClock())
    seconds = stages.seconds()
    assert seconds["vision_s"] is None and seconds["projector_s"] is None
    assert seconds["prefill_s"] > 0 and seconds["decode_s"] > 0
    assert "generate_overhead_s" not in seconds
    assert generate_overhead_s(seconds, result.latency_s) == pytest.approx(
        result.latency_s - seconds["prefill_s"] - seconds["decode_s"]
    )


def test_vlm_without_an_image_spends_no_time_in_vision(tiny):
    _, stages = _timed(tiny, _batch(tiny, 1, images=False), 3, WallClock(), warm_up=False)
    seconds = stages.seconds()
    assert seconds["vision_s"] == 0.0 and seconds["projector_s"] == 0.0
    assert seconds["prefill_s"] > 0


class _Event:
    """An opaque mark, like a CUDA event: its time is only read through the clock."""

    def __init__(self, ns: int, syncs_before: int) -> None:
        self.ns = ns
        self.syncs_before = syncs_before


class EventLikeClock(WallClock):
    """Records, for every mark, how many synchronisations had happened before it."""

    source = "fake_event"

    def __init__(self) -> None:
        self.syncs = 0
        self.events: list[_Event] = []

    def mark(self) -> _Event:
        event = _Event(super().mark(), self.syncs)
        self.events.append(event)
        return event

    def synchronize(self) -> None:
        self.syncs += 1

    def elapsed_s(self, start: _Event, end: _Event) -> float:
        return (end.ns - start.ns) / 1e9


def test_no_synchronisation_inside_the_window(tiny):
    clock = EventLikeClock()
    batch = _batch(tiny, 1)
    config = generation_config(tiny, Generation(max_new_tokens=4, mode="fixed"))
    timed_generate(tiny, batch, config, WallClock())
    result = timed_generate(tiny, batch, config, clock)  # its own stage timer is inside
    assert clock.syncs == 1, "only the one synchronisation after the window's end mark"
    # window start, first token, end (timed_generate) + a start and end per hooked call:
    # 4 top calls, 1 vision tower call, 1 projector call
    assert len(clock.events) == 3 + 2 * (4 + 1 + 1)
    assert all(event.syncs_before == 0 for event in clock.events)
    assert result.stages["decode_s"] > 0


def test_hooks_are_removed_when_generate_fails_mid_forward(tiny):
    batch = _batch(tiny, 1)
    config = generation_config(tiny, Generation(max_new_tokens=2, mode="fixed"))

    def fail(_module, _args):
        raise RuntimeError("boom in the second decoder layer")

    before = _hooks(tiny.model)
    failing = tiny.model.model.language_model.layers[1].register_forward_pre_hook(fail)
    try:
        with pytest.raises(RuntimeError, match="boom"), StageTimer(tiny.model, WallClock()) as stages:
            assert len(_hooks(tiny.model) - before) == 1 + 2 * 3  # ours, then top, vision tower, projector
            tiny.model.generate(**batch.inputs, generation_config=config)
    finally:
        failing.remove()
    assert _hooks(tiny.model) == before
    assert stages.top_calls == 0, "the top model's call never finished"


@pytest.mark.parametrize(
    ("config", "vision", "projector", "nested"),
    [
        (Qwen2VLConfig, ["model.visual"], ["model.visual.merger"], True),
        (Idefics3Config, ["model.vision_model"], ["model.connector"], False),
        (PaliGemmaConfig, ["model.vision_tower"], ["model.multi_modal_projector"], False),
        (Blip2Config, ["vision_model"], ["qformer", "language_projection"], False),
    ],
)
def test_stage_modules_are_found_across_vlm_families(config, vision, projector, nested):
    made = config()
    for part in ("text_config", "vision_config", "qformer_config"):
        for key in ("num_hidden_layers", "depth"):
            if hasattr(getattr(made, part, None), key):
                setattr(getattr(made, part), key, 1)
    with torch.device("meta"):  # structure only: no memory, no weights
        model = AutoModelForImageTextToText.from_config(made)
    found = find_stage_modules(model)
    names = {id(module): name for name, module in model.named_modules()}
    assert [names[id(m)] for m in found.vision] == vision
    assert [names[id(m)] for m in found.projector] == projector
    assert found.projector_in_vision is nested


@pytest.mark.slow
def test_stage_hooks_leave_a_compiled_decode_alone(vlmperf_cache, monkeypatch):
    """generate compiles model.__call__ for the decoding steps; the hooks must not recompile it each step."""
    import torch._dynamo
    from transformers import CompileConfig

    from vlmperf.backends.local.compile import apply_compile
    from vlmperf.meters.module_times import profile_generate

    monkeypatch.setenv("VLMPERF_CACHE", str(vlmperf_cache))
    loaded = load_model(LocalTarget())
    batch = _batch(loaded, 1)
    config = generation_config(loaded, Generation(max_new_tokens=6, mode="fixed"))
    compiled = CompileConfig(fullgraph=False, dynamic=True, backend="eager")  # Dynamo's tracing, no codegen
    compiled._compile_all_devices = True
    apply_compile(config, compiled)
    torch._dynamo.reset()
    try:
        timed_generate(loaded, batch, config, WallClock())
        graphs = torch._dynamo.utils.counters["stats"]["unique_graphs"]
        assert graphs >= 1, "the decoding steps ran compiled"
        with StageTimer(loaded.model, WallClock()) as stages:
            timed_generate(loaded, batch, config, WallClock())
        assert torch._dynamo.utils.counters["stats"]["unique_graphs"] == graphs, "no new graph, no recompilation"
        assert stages.top_calls == 6 and stages.seconds()["decode_s"] > 0
        profile = profile_generate(
            loaded.model, lambda: loaded.model.generate(**batch.inputs, generation_config=config), WallClock()
        )
        assert torch._dynamo.utils.counters["stats"]["unique_graphs"] == graphs
        assert profile["top_calls"] == 6 and profile["warnings"], "compiled decoding hides the layers, and says so"
    finally:
        torch._dynamo.reset()


@pytest.mark.parametrize("compiled", [True, False])
def test_hooks_are_kept_out_of_dynamo_only_when_the_model_may_be_compiled(tiny, compiled):
    """Wrapping a hook in torch.compiler.disable costs every hook call (about 3 µs on this CPU); a
    model that generate will not compile gets its hooks as they are."""
    before = _hooks(tiny.model)
    with StageTimer(tiny.model, WallClock(), compiled=compiled):
        ours = [
            hook
            for module in (tiny.model, *find_stage_modules(tiny.model).vision)
            for hooks in (module._forward_pre_hooks, module._forward_hooks)
            for key, hook in hooks.items()
            if not any(key == k for _, _, k in before)
        ]
    assert ours and all(getattr(hook, "_torchdynamo_disable", False) is compiled for hook in ours)
