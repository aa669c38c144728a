"""The limit beside each local figure: bytes and FLOPs against hand counts, the metrics' arithmetic, the peaks."""

from __future__ import annotations

import pytest
import torch

from tests.test_replica import llama_params
from vlmperf.backends.local.presets import LLAVA_15_7B
from vlmperf.backends.local.replica import build_random_model, to_pretrained_config
from vlmperf.backends.local.target import LocalTarget
from vlmperf.errors import InputError
from vlmperf.meters.device_peaks import device_peaks
from vlmperf.meters.memory_traffic import memory_traffic
from vlmperf.metrics.definitions import METRICS


@pytest.fixture(scope="module")
def llava_7b():
    """The full llava-1.5-7b architecture at fp16, on the meta device (shapes and dtypes, no memory)."""
    config = LLAVA_15_7B.model_config()
    return config, build_random_model(to_pretrained_config(config), dtype=torch.float16, device="meta")


def test_llava_15_7b_decode_reads_the_language_model_and_head_but_not_the_vision_tower(llava_7b):
    config, model = llava_7b
    text = config["text_config"]
    traffic = memory_traffic(model)
    # fp16: 2 bytes a weight; a decode step reads the decoder and the untied head, not the embedding table
    embedding = text["vocab_size"] * text["hidden_size"]
    assert traffic.decode_weight_bytes == 2 * (llama_params(text) - embedding)
    assert traffic.all_weight_bytes == 2 * sum(p.numel() for p in model.parameters())
    assert 13.0e9 < traffic.decode_weight_bytes < 13.5e9  # ~6.6B parameters at 2 bytes
    # K and V, 32 layers, 32 heads of 128, 2 bytes: 0.5 MiB per position and row
    assert traffic.kv_bytes_per_position == 2 * 32 * 32 * 128 * 2 == 524288


def test_decode_bytes_sum_the_weights_and_the_growing_cache_over_the_steps(llava_7b):
    traffic = memory_traffic(llava_7b[1])
    w, kv = traffic.decode_weight_bytes, traffic.kv_bytes_per_position
    # batch 2, prompt 600, 3 steps: the new tokens attend to 601, 602 and 603 positions
    assert traffic.decode_bytes(batch_size=2, prompt_length=600, decode_steps=3) == 3 * w + kv * 2 * (601 + 602 + 603)
    assert traffic.decode_bytes(batch_size=2, prompt_length=600, decode_steps=0) == 0
    assert traffic.prefill_bytes(batch_size=2, prompt_length=600) == traffic.all_weight_bytes + kv * 2 * 600


def test_tied_embeddings_are_read_by_the_head_and_counted_once():
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=100,
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        tie_word_embeddings=True,
    )
    model = LlamaForCausalLM(config)
    traffic = memory_traffic(model)
    parameters = sum(p.numel() for p in model.parameters())  # the shared table once
    assert traffic.decode_weight_bytes == traffic.all_weight_bytes == 4 * parameters
    assert traffic.kv_bytes_per_position == 2 * 1 * 2 * 8 * 4


def test_an_architecture_without_a_formula_has_no_byte_count_and_says_why():
    from transformers import GPT2Config, GPT2LMHeadModel

    with pytest.raises(InputError, match="no analytic FLOP formula for a 'gpt2'"):
        memory_traffic(GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=16, n_head=2, vocab_size=50)))


def _record(**overrides):
    """A timed run of batch 2 with known FLOPs, bytes and peaks."""
    record = {
        "batch_size": 2,
        "latency_s": 0.5,
        "ttft_s": 0.1,
        "decode_steps": 5,
        "flops": {"prefill": 4e12, "decode": 1e11},
        "bytes": {"prefill": 2e10, "decode": 8e10},
        "peak_flops_per_s": 1e15,
        "peak_memory_bandwidth_bytes_per_s": 4e12,
    }
    return {**record, **overrides}


def _value(name, record):
    (value,) = METRICS[name].values([record])
    return value


def test_limits_against_hand_computed_figures():
    record = _record()
    assert _value("limit_prefill_s", record) == pytest.approx(4e12 / 1e15)  # 4 ms of compute
    assert _value("limit_decode_s", record) == pytest.approx(8e10 / 4e12)  # 20 ms of reading
    assert _value("limit_latency_s", record) == pytest.approx(0.024)
    assert _value("limit_ratio", record) == pytest.approx(0.5 / 0.024)
    # 80 GB read in the 0.4 s after the first token: 200 GB/s of 4 TB/s
    assert _value("mbu", record) == pytest.approx(8e10 / 0.4 / 4e12)
    assert _value("arithmetic_intensity_flop_per_byte", record) == pytest.approx(4.1e12 / 1e11)


@pytest.mark.parametrize(
    ("overrides", "null"),
    [
        ({"peak_flops_per_s": None}, {"limit_prefill_s", "limit_latency_s", "limit_ratio"}),
        ({"peak_memory_bandwidth_bytes_per_s": None}, {"limit_decode_s", "limit_latency_s", "limit_ratio", "mbu"}),
        ({"flops": None}, {"limit_prefill_s", "limit_latency_s", "limit_ratio", "arithmetic_intensity_flop_per_byte"}),
        (
            {"bytes": None},
            {"limit_decode_s", "limit_latency_s", "limit_ratio", "mbu", "arithmetic_intensity_flop_per_byte"},
        ),
        ({"decode_steps": 1}, {"mbu"}),
    ],
)
def test_a_missing_input_nulls_exactly_the_figures_that_need_it(overrides, null):
    names = (
        "limit_prefill_s",
        "limit_decode_s",
        "limit_latency_s",
        "limit_ratio",
        "mbu",
        "arithmetic_intensity_flop_per_byte",
    )
    record = _record(**overrides)
    assert {name for name in names if _value(name, record) is None} == null


def test_peaks_come_from_the_config_first_then_the_gpu_table_else_none_with_why():
    cpu = device_peaks(LocalTarget(), None)
    assert cpu.flops_per_s is None and cpu.memory_bandwidth_bytes_per_s is None
    assert len(cpu.missing) == 2 and all("give target.peak_" in m for m in cpu.missing)
    given = device_peaks(LocalTarget(peak_flops_per_s=2e12, peak_memory_bandwidth_bytes_per_s=1e11), None)
    assert (given.flops_per_s, given.memory_bandwidth_bytes_per_s, given.missing) == (2e12, 1e11, [])
    assert given.source == {"flops": "config", "memory": "config"}
    h200 = device_peaks(LocalTarget(dtype="fp16", device="cuda"), "NVIDIA H200")
    assert (h200.flops_per_s, h200.memory_bandwidth_bytes_per_s) == (989.5e12, 4.8e12)
    assert "H200 datasheet" in h200.source["memory"]
    unknown = device_peaks(LocalTarget(dtype="fp16", device="cuda"), "NVIDIA RTX Future")
    assert unknown.flops_per_s is None and "'NVIDIA RTX Future' is not in" in unknown.missing[0]
