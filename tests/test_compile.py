"""torch.compile through generate: the same greedy outputs, few compilations, and their cost counted."""

from __future__ import annotations

import orjson
import pytest
import torch

from vlmperf.backends.local.compile import CompileMonitor, check_compile_fits, check_model_compiles
from vlmperf.backends.local.generate import generation_config, timed_generate
from vlmperf.backends.local.inputs import prepare_batch
from vlmperf.backends.local.loading import load_model
from vlmperf.backends.local.target import LocalTarget
from vlmperf.config.spec import Generation, Workload
from vlmperf.errors import InputError
from vlmperf.meters.clock import WallClock
from vlmperf.workloads.sources import load_samples

PROMPTS = [
    "Hi.",
    "Describe the image in a few words please.",
    "Describe the image in a great many words, one after another, with all the detail you can see, please.",
]
GREEDY = Generation(max_new_tokens=6, mode="fixed")


@pytest.fixture
def shared_cache(vlmperf_cache, monkeypatch):
    monkeypatch.setenv("VLMPERF_CACHE", str(vlmperf_cache))


def _call(loaded, samples, prompt, batch_size):
    batch = prepare_batch(loaded, samples[:batch_size], [prompt] * batch_size, max_input_len=None, device="cpu")
    monitor = CompileMonitor()
    before = monitor.snapshot()
    result = timed_generate(loaded, batch, generation_config(loaded, GREEDY), WallClock())
    return batch.prompt_length, result.outputs, monitor.since(before)


def test_the_monitor_counts_compilations_and_their_time():
    monitor = CompileMonitor()
    double = torch.compile(lambda x: x * 2 + 1, backend="eager")
    before = monitor.snapshot()
    double(torch.ones(3))
    first = monitor.since(before)
    assert first["recompiles"] == 1 and first["compile_s"] > 0
    again = monitor.snapshot()
    double(torch.ones(3))
    assert monitor.since(again) == {"compile_s": 0.0, "recompiles": 0}


def test_a_dynamo_reset_inside_a_window_is_an_error_not_a_silent_zero():
    monitor = CompileMonitor()
    before = monitor.snapshot()
    torch._dynamo.reset()
    with pytest.raises(RuntimeError, match="reset"):
        monitor.since(before)
    monitor.since(monitor.snapshot())  # a snapshot after the reset counts again


def test_generate_compiles_the_decoding_steps_over_a_static_cache(shared_cache):
    loaded = load_model(LocalTarget(compile="default"))
    config = generation_config(loaded, GREEDY)
    assert config.cache_implementation == "static" and config.compile_config.mode == "default"
    assert config.compile_config.dynamic is True
    assert loaded.info["compile"]["mode"] == "default"
    assert orjson.loads(orjson.dumps(config.to_diff_dict()))["compile_config"]["mode"] == "default", "storable"


@pytest.mark.slow
def test_prompt_lengths_and_batch_sizes_compile_once_per_batch_class(shared_cache):
    """3 prompt lengths x batch 1, 2, 3: batch 1 compiles once, batches above 1 once more, nothing else.

    The eager backend keeps dynamo's guards and shape handling (what decides recompiles) without
    inductor's code generation, so this runs in seconds."""
    loaded = load_model(LocalTarget(compile="default"))
    loaded.compile_config.backend = "eager"
    samples = load_samples(Workload(limit=3))
    compiles = {}
    for batch_size in (1, 2, 3):
        for prompt in PROMPTS:
            length, _, cost = _call(loaded, samples, prompt, batch_size)
            compiles[(batch_size, length)] = cost["recompiles"]
    lengths = sorted({length for _, length in compiles})
    assert len(lengths) == 3, "three different prompt lengths"
    first_calls = {(1, lengths[0]): 1, (2, lengths[0]): 1}
    assert compiles == {key: first_calls.get(key, 0) for key in compiles}, compiles


@pytest.mark.slow
def test_compiled_greedy_outputs_equal_eager_ones(shared_cache):
    """The real inductor compile on CPU (the slow test of this module: one compilation)."""
    samples = load_samples(Workload(limit=2))
    eager = load_model(LocalTarget())
    expected = [_call(eager, samples, prompt, 2)[1] for prompt in PROMPTS[:2]]
    compiled = load_model(LocalTarget(compile="default"))
    results = [_call(compiled, samples, prompt, 2) for prompt in PROMPTS[:2]]
    assert [outputs for _, outputs, _ in results] == expected
    first, second = results[0][2], results[1][2]
    assert first["recompiles"] == 1 and first["compile_s"] > 0
    assert second == {"compile_s": 0.0, "recompiles": 0}, "another prompt length reuses the compiled steps"


def test_compile_with_speculative_decoding_is_refused_with_a_reason():
    target = LocalTarget(compile="default", speculative="prompt-lookup")
    with pytest.raises(InputError, match="dynamic KV cache.*separate cells"):
        check_compile_fits(target)


def test_a_quantizer_that_cannot_compile_fails_instead_of_running_eager():
    class NotCompilable:
        is_compileable = False

    class Model:
        hf_quantizer = NotCompilable()

    with pytest.raises(InputError, match="NotCompilable.*compile off"):
        check_model_compiles(Model(), "default")
    check_model_compiles(Model(), "off")


@pytest.mark.slow
def test_the_flop_pass_leaves_the_timed_runs_compiled(shared_cache):
    """Dynamo refuses to compile under FlopCounterMode and the refusal sticks to the model's forward:
    a FLOP pass on the compiled config left every later timed run eager (found in review). The passes
    run with compilation off for their own call, so the compiled decode step still runs in every timed
    run after a FLOP pass. A counting backend tells: each run of compiled code is one call of it."""
    from vlmperf.backends.local.energy_context import CellEnergy
    from vlmperf.backends.local.measure import CellMeasurement
    from vlmperf.config.spec import CellSpec

    compiled_calls = []

    def counting(graph, example_inputs):
        def run(*args):
            compiled_calls.append(1)
            return graph.forward(*args)

        return run

    loaded = load_model(LocalTarget(compile="default"))
    loaded.compile_config.backend = counting
    spec = CellSpec.model_validate(
        {
            "target": {"compile": "default"},
            "workload": {"limit": 1},
            "generation": {"max_new_tokens": 6, "mode": "fixed"},
            "measure": {"warmup_runs": 1, "flops": True},
        }
    )
    records = []
    measurement = CellMeasurement(
        loaded,
        spec,
        load_samples(Workload(limit=1)),
        lambda seq, r: records.append(r),
        CellEnergy(None, "no sensor in this test", None),
    )
    measurement.warm_up()
    per_window = []
    for _ in range(3):  # the first window's FLOP pass runs after its timed run, before the next two
        compiled_calls.clear()
        measurement.measure_once()
        per_window.append(len(compiled_calls))
    assert records[0]["flops"] is not None and records[0]["flops"]["decode"] > 0
    assert per_window == [5, 5, 5], "every timed run decodes its 5 later tokens with the compiled step"
