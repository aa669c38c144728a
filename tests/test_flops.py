"""FLOP counting: the counted FLOPs of a generate call agree with the analytic count from the config,
on the eager and SDPA paths, prefill and decode apart; the stage split adds up; the GPU peak table."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import sdpa_flop_count

from vlmperf.backends.local.flop_pass import batch_key, shape_key
from vlmperf.backends.local.generate import generation_config
from vlmperf.backends.local.inputs import PreparedBatch, prepare_batch
from vlmperf.backends.local.loading import load_model
from vlmperf.backends.local.target import LocalTarget
from vlmperf.config.spec import Generation, Workload
from vlmperf.errors import InputError
from vlmperf.meters.analytic_flops import analytic_generate_flops
from vlmperf.meters.flops import count_generate_flops
from vlmperf.meters.gpu_peaks import (
    DEVICE_NAMES,
    DTYPES,
    lookup,
    mfu,
    peak_flops_per_s,
    peak_memory_bandwidth_bytes_per_s,
)
from vlmperf.workloads.sources import load_samples
from vlmperf.workloads.tasks import get_task

NEW_TOKENS = 4
CPU_SDPA_OP = "aten._scaled_dot_product_flash_attention_for_cpu"


@pytest.fixture(scope="module", autouse=True)
def cache(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("VLMPERF_CACHE", str(tmp_path_factory.mktemp("cache")))
    yield
    mp.undo()


def _batch(loaded, task: str, size: int):
    samples = load_samples(Workload(task=task, source="builtin", limit=size))
    prompts = [get_task(task).prompt_for(s) for s in samples]
    return prepare_batch(loaded, samples, prompts, max_input_len=None, device="cpu")


def _count_and_expect(loaded, batch, new_tokens: int = NEW_TOKENS):
    """The counted FLOPs of the generate call a timed run makes, and the analytic count for it."""
    config = generation_config(loaded, Generation(max_new_tokens=new_tokens, mode="fixed"))
    counted = count_generate_flops(
        loaded.model, lambda: loaded.model.generate(**batch.inputs, generation_config=config)
    )
    pixels = batch.inputs.get("pixel_values")
    expected = analytic_generate_flops(
        loaded.model.config,
        batch_size=len(batch.sample_ids),
        prompt_length=batch.prompt_length,
        decode_steps=counted.forward_calls - 1,
        images=0 if pixels is None else pixels.shape[0],
    )
    return counted, expected


def _assert_agrees(counted, expected, rel=0.02):
    assert counted.prefill_flops == pytest.approx(expected.prefill_flops, rel=rel)
    assert counted.decode_flops == pytest.approx(expected.decode_flops, rel=rel)
    for stage, flops in expected.by_stage.items():
        assert counted.by_stage[stage]["prefill"] == pytest.approx(flops["prefill"], rel=rel), stage
        assert counted.by_stage[stage]["decode"] == pytest.approx(flops["decode"], rel=rel), stage


@pytest.fixture(scope="module")
def tiny_counts():
    """The built-in tiny LLaVA on both attention paths, over a left-padded batch of two."""
    counts = {}
    for attn in ("sdpa", "eager"):
        loaded = load_model(LocalTarget(attn_implementation=attn))
        batch = _batch(loaded, "vqa", 2)
        assert len(set(batch.input_tokens)) > 1, "the batch should be padded"
        counts[attn] = _count_and_expect(loaded, batch)
    return counts


@pytest.fixture(scope="module")
def replica_counts():
    """A llava-1.5-7b replica at full width with 1 text and 1 vision layer, built once, counted on
    the SDPA path and, after switching the attention implementation, on the eager path."""
    loaded = load_model(LocalTarget(model="llava-1.5-7b", no_weights=True, text_layers=1, vision_layers=1))
    batch = _batch(loaded, "caption", 1)
    counts = {}
    for attn in ("sdpa", "eager"):
        loaded.model.set_attn_implementation(attn)
        counts[attn] = _count_and_expect(loaded, batch, new_tokens=3)
    return counts


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_tiny_llava_counted_flops_match_the_analytic_count(tiny_counts, attn):
    counted, expected = tiny_counts[attn]
    assert counted.forward_calls == NEW_TOKENS
    _assert_agrees(counted, expected)
    assert counted.complete, counted.uncounted_ops


@pytest.mark.slow
@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_llava_15_7b_replica_counted_flops_match_the_analytic_count(replica_counts, attn):
    counted, expected = replica_counts[attn]
    assert counted.forward_calls == 3
    _assert_agrees(counted, expected)
    assert counted.complete, counted.uncounted_ops
    # the 576 image tokens of a 336 px image at patch 14 are in the prompt: the prefill dominates
    assert counted.prefill_flops > 100 * counted.decode_flops


@pytest.mark.parametrize("counts", ["tiny_counts", pytest.param("replica_counts", marks=pytest.mark.slow)])
def test_sdpa_on_cpu_is_counted_the_same_as_eager_attention(counts, request):
    by_path = request.getfixturevalue(counts)
    sdpa, eager = by_path["sdpa"][0], by_path["eager"][0]
    assert sdpa.by_op.get(CPU_SDPA_OP, 0) > 0, f"the CPU SDPA op was not counted: {sdpa.by_op}"
    assert CPU_SDPA_OP not in eager.by_op and eager.by_op["aten.bmm"] == sdpa.by_op[CPU_SDPA_OP]
    assert (sdpa.prefill_flops, sdpa.decode_flops) == (eager.prefill_flops, eager.decode_flops)


def test_grouped_query_sdpa_counts_full_score_matrices_like_torch():
    """A causal, grouped-query SDPA call counts torch's convention: two full matmuls per query head."""

    class Attention(torch.nn.Module):
        def forward(self, q, k, v):
            return F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)

    q, k, v = torch.randn(2, 8, 5, 16), torch.randn(2, 2, 5, 16), torch.randn(2, 2, 5, 16)
    attention = Attention()
    counted = count_generate_flops(attention, lambda: attention(q, k, v))
    assert counted.total() == sdpa_flop_count(q.shape, k.shape, v.shape) == 4 * 2 * 8 * 5 * 5 * 16
    assert counted.complete


def test_stages_split_the_total_and_name_the_llava_modules(tiny_counts):
    counted, _ = tiny_counts["sdpa"]
    for phase, total in (("prefill", counted.prefill_flops), ("decode", counted.decode_flops)):
        assert sum(s[phase] for s in counted.by_stage.values()) == total
        assert sum(m[phase] for m in counted.by_module.values()) == total
    assert counted.stages == {
        "vision": ["model.vision_tower"],
        "projector": ["model.multi_modal_projector"],
        "language_model": ["model.language_model"],
        "lm_head": ["lm_head"],
        "other": [],
    }
    assert counted.by_stage["other"] == {"prefill": 0, "decode": 0}
    assert counted.by_module["model.vision_tower"] == counted.by_stage["vision"]
    # images are encoded once, before the prompt pass; every later step runs the decoder and the head only
    assert counted.by_stage["vision"]["decode"] == counted.by_stage["projector"]["decode"] == 0
    assert counted.by_stage["lm_head"]["decode"] == (NEW_TOKENS - 1) * counted.by_stage["lm_head"]["prefill"]
    layers = counted.by_class
    assert layers["CLIPEncoderLayer"]["count"] == 2 and layers["LlamaDecoderLayer"]["count"] == 2
    assert (
        layers["CLIPEncoderLayer"]["prefill"] + layers["CLIPVisionEmbeddings"]["prefill"]
        == counted.by_stage["vision"]["prefill"]
    )
    assert layers["LlamaDecoderLayer"]["decode"] == counted.by_stage["language_model"]["decode"]


def test_counting_twice_gives_the_same_count(tiny_counts):
    """The hooks of a count are gone afterwards: a second count is not inflated by the first's."""
    loaded = load_model(LocalTarget())
    batch = _batch(loaded, "vqa", 2)
    again, _ = _count_and_expect(loaded, batch)
    first, _ = tiny_counts["sdpa"]
    assert (again.prefill_flops, again.decode_flops, again.by_stage) == (
        first.prefill_flops,
        first.decode_flops,
        first.by_stage,
    )


def test_text_only_llama(text_model_dir):
    loaded = load_model(LocalTarget(model=str(text_model_dir)))
    batch = _batch(loaded, "text", 2)
    counted, expected = _count_and_expect(loaded, batch)
    _assert_agrees(counted, expected)
    assert counted.stages == {"language_model": ["model"], "lm_head": ["lm_head"], "other": []}
    assert counted.by_stage["other"] == {"prefill": 0, "decode": 0}
    assert set(expected.by_stage) == {"language_model", "lm_head"}


def test_a_compute_op_without_a_formula_is_reported_not_taken_as_zero():
    class Dot(torch.nn.Module):
        def forward(self, a, b):
            return torch.dot(a, b)

    dot, a = Dot(), torch.randn(16)
    counted = count_generate_flops(dot, lambda: dot(a, a))
    assert counted.uncounted_ops == {"aten.dot": 1}
    assert not counted.complete


def test_a_generate_call_that_never_runs_the_model_is_an_error():
    model = torch.nn.Linear(2, 2)
    with pytest.raises(InputError, match="never called the forward"):
        count_generate_flops(model, lambda: torch.ones(2) @ torch.ones(2))


def test_analytic_count_refuses_what_it_has_no_formula_for():
    with pytest.raises(InputError, match="no analytic FLOP formula for a 'gpt2'"):
        analytic_generate_flops({"model_type": "gpt2"}, batch_size=1, prompt_length=4, decode_steps=1)


@pytest.mark.parametrize(
    ("name", "model", "bf16_tflops", "memory_gb_s"),
    [
        ("NVIDIA H100 80GB HBM3", "H100 SXM", 989.5, 3350),
        ("NVIDIA H100 PCIe", "H100 PCIe", 756.5, 2000),
        ("NVIDIA H100 NVL", "H100 NVL", 835.5, 3900),
        ("NVIDIA H200", "H200 SXM", 989.5, 4800),
        ("NVIDIA A100-SXM4-80GB", "A100 80GB SXM", 312.0, 2039),
        ("NVIDIA A100-SXM4-40GB", "A100 40GB", 312.0, 1555),
        ("NVIDIA A100-PCIE-40GB", "A100 40GB", 312.0, 1555),
        ("NVIDIA A100 80GB PCIe", "A100 80GB PCIe", 312.0, 1935),
        ("NVIDIA L40S", "L40S", 362.05, 864),
        ("NVIDIA L4", "L4", 121.0, 300),
        ("NVIDIA A10G", "A10G", 70.0, 600),
        ("NVIDIA A10", "A10", 125.0, 600),
        ("Tesla T4", "T4", None, 320),
        ("Tesla V100-SXM2-16GB", "V100 SXM2", None, 900),
    ],
)
def test_peak_table_knows_device_names_as_torch_reports_them(name, model, bf16_tflops, memory_gb_s):
    peak = lookup(name)
    assert peak is not None and peak.model == model and peak.source
    assert lookup(f"  {name.upper()} ") is peak
    expected = None if bf16_tflops is None else bf16_tflops * 1e12
    assert peak_flops_per_s(name, "bf16") == expected
    assert peak_memory_bandwidth_bytes_per_s(name) == memory_gb_s * 1e9


@pytest.mark.parametrize(
    "name", ["NVIDIA GeForce RTX 4090", "NVIDIA A100-SXM4-40GB MIG 1g.5gb", "NVIDIA H20", "cpu", ""]
)
def test_an_unknown_device_has_no_peak_and_no_mfu(name):
    assert lookup(name) is None
    assert peak_flops_per_s(name, "fp16") is None
    assert mfu(1e12, 1.0, name, "fp16") is None


def test_mfu():
    assert mfu(989.5e12, 2.0, "NVIDIA H100 80GB HBM3", "bf16") == pytest.approx(0.5)
    assert mfu(19.5e12, 1.0, "NVIDIA A100-SXM4-80GB", "fp32") == pytest.approx(1.0)
    assert mfu(1e12, 1.0, "Tesla T4", "bf16") is None  # Turing has no bf16 unit
    with pytest.raises(ValueError, match="unknown dtype 'float16'"):
        mfu(1e12, 1.0, "Tesla T4", "float16")
    with pytest.raises(ValueError, match="seconds must be positive"):
        mfu(1e12, 0.0, "Tesla T4", "fp16")


def test_every_peak_row_is_sourced_and_dense_at_most_the_sparse_datasheet_order():
    for name, peak in DEVICE_NAMES.items():
        assert peak.source, name
        assert set(peak.tflops) <= set(DTYPES), name
        assert peak.tflops["fp32"] > 0, name
        if "fp16" in peak.tflops:
            assert peak.tflops["fp16"] >= peak.tflops.get("tf32", 0), name
        assert peak.memory_gb_s and 200 <= peak.memory_gb_s <= 10_000, name


def _prepared(sample_ids: list[str], input_tokens: list[int], width: int) -> PreparedBatch:
    rows = len(sample_ids)
    inputs = {"input_ids": torch.zeros(rows, width, dtype=torch.long), "pixel_values": torch.zeros(rows, 3, 30, 30)}
    return PreparedBatch(inputs, sample_ids, input_tokens, [9] * rows, [0] * rows, width)


def test_a_flop_count_is_keyed_by_shape_not_by_which_samples():
    """Same tensor shapes, row lengths and decode steps: one count; any of them different: another."""
    one = shape_key(_prepared(["a", "b"], [40, 38], 40), decode_steps=8)
    assert one == shape_key(_prepared(["c", "d"], [40, 38], 40), decode_steps=8)
    assert one != shape_key(_prepared(["a", "b"], [40, 38], 40), decode_steps=9)
    assert one != shape_key(_prepared(["a", "b"], [40, 40], 40), decode_steps=8)
    assert one != shape_key(_prepared(["a", "b"], [40, 38], 41), decode_steps=8)
    assert batch_key(_prepared(["a", "b"], [40, 38], 40), 3) != batch_key(_prepared(["c", "d"], [40, 38], 40), 3)
