"""Metric definitions and summaries against independent references (hand counts, the statistics module)."""

from __future__ import annotations

import statistics
import time
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from vlmperf.backends.local.generate import count_output_tokens, timed_generate
from vlmperf.backends.local.inputs import PreparedBatch
from vlmperf.meters.clock import WallClock
from vlmperf.metrics.cell_summary import summarize_records
from vlmperf.metrics.definitions import METRICS, metrics_for
from vlmperf.metrics.summary import STATISTICS, summarize

RECORD = {
    "batch_size": 4,
    "latency_s": 2.0,
    "ttft_s": 0.5,
    "decode_steps": 11,
    "preprocess_s": 0.01,
    "peak_memory_bytes": 1000,
    "input_tokens": [30, 31, 32, 33],
    "vision_tokens": [16, 16, 16, 16],
    "output_tokens": [11, 5, 11, 9],
    "truncated_tokens": [0, 3, 0, 0],
    "outputs": ["a cat", "", "two  words here", "x"],
    "captions": [1, 0, 1, 1],
}


def test_every_metric_on_a_hand_computed_record():
    values = {name: metric.values([RECORD]) for name, metric in metrics_for("local").items()}
    assert values["latency_s"] == [2.0]
    assert values["latency_per_sample_s"] == [0.5]
    assert values["ttft_s"] == [0.5]
    assert values["tpot_s"] == [pytest.approx((2.0 - 0.5) / 10)]
    assert values["throughput_samples_per_s"] == [2.0]
    assert values["throughput_output_tokens_per_s"] == [36 / 2.0]
    assert values["input_tokens"] == [30, 31, 32, 33]
    assert values["vision_tokens"] == [16] * 4
    assert values["output_tokens"] == [11, 5, 11, 9]
    assert values["input_truncated_tokens"] == [0, 3, 0, 0]
    assert values["peak_memory_bytes"] == [1000]
    assert values["preprocess_s"] == [0.01]
    assert values["output_chars"] == [5, 0, 15, 1]
    assert values["output_words"] == [2, 0, 3, 1]
    assert values["captions_per_request"] == [1, 0, 1, 1]


def test_tpot_is_null_for_a_single_token():
    assert METRICS["tpot_s"].values([{**RECORD, "decode_steps": 1}]) == [None]


UNIT_OF_SUFFIX = {
    "_s": "s",
    "_bytes": "B",
    "_j": "J",
    "_w": "W",
    "_usd": "USD",
    "_tokens": "tokens",
    "_chars": "chars",
    "_words": "words",
    "_pixels": "px",
    "_per_request": "captions",
    "flops": "FLOP",
    "_per_s": "1/s",
}
"""A metric's name carries its unit (DESIGN: units live in the name)."""


def test_every_metric_is_defined_with_its_unit_in_its_name_and_a_direction():
    from vlmperf.metrics.definitions import BETTER_BY_UNIT

    for metric in METRICS.values():
        for target in metric.extractors:
            assert len(metric.definition(target)) > 30, (metric.name, target)
        suffix = next((s for s in sorted(UNIT_OF_SUFFIX, key=len, reverse=True) if metric.name.endswith(s)), None)
        if metric.name == "flops_per_s":
            assert metric.unit == "FLOP/s"
        elif suffix is not None:
            assert metric.unit == UNIT_OF_SUFFIX[suffix], (metric.name, metric.unit)
        else:  # ratios and counts name what they count
            assert metric.unit in ("ratio", "count", "requests", "tokens", "FLOP/B"), (metric.name, metric.unit)
        assert metric.better in ("lower", "higher", None)
        if metric.better != BETTER_BY_UNIT.get(metric.unit):
            assert metric.name in {
                "limit_ratio",
                "limit_prefill_s",
                "limit_decode_s",
                "limit_latency_s",
                "response_bytes",
                "image_bytes",
                "mean_accepted_tokens",
            }, metric.name


def test_directions_that_matter():
    assert METRICS["latency_s"].better == "lower" and METRICS["throughput_samples_per_s"].better == "higher"
    assert METRICS["limit_ratio"].better == "lower", "1 is the limit: a smaller ratio is closer to it"
    assert METRICS["output_tokens"].better is None, "a count of the work is never a regression"
    assert METRICS["peak_memory_bytes"].display == (1 / 2**20, "MiB") and METRICS["ttft_s"].display == (1e3, "ms")


def test_the_order_is_the_modules_order_whatever_is_imported_first():
    """A fresh interpreter importing the endpoint metrics first sees the same order as one importing the registry."""
    import subprocess
    import sys

    def order(first: str) -> str:
        code = f"import {first}\nfrom vlmperf.metrics.definitions import METRICS\nprint(list(METRICS))"
        return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout

    assert order("vlmperf.backends.endpoint.metrics") == order("vlmperf.metrics.definitions")
    assert order("vlmperf.metrics.outputs") == order("vlmperf.metrics.definitions")


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(min_value=0, max_value=1e6, allow_nan=False), min_size=2, max_size=200))
def test_summary_matches_the_statistics_module(values):
    stats = summarize(values)
    quantiles = statistics.quantiles(values, n=100, method="inclusive")
    assert stats["p50"] == pytest.approx(statistics.median(values), rel=1e-9, abs=1e-9)
    assert stats["p90"] == pytest.approx(quantiles[89], rel=1e-9, abs=1e-9)
    assert stats["p99"] == pytest.approx(quantiles[98], rel=1e-9, abs=1e-9)
    assert stats["mean"] == pytest.approx(statistics.fmean(values), rel=1e-9, abs=1e-6)
    assert stats["std"] == pytest.approx(statistics.stdev(values), rel=1e-6, abs=1e-6)
    assert (stats["min"], stats["max"], stats["n"]) == (min(values), max(values), len(values))


def test_summary_skips_nulls_and_bootstraps_deterministically():
    assert summarize([None, None]) is None
    stats = summarize([1.0, None, 3.0])
    assert stats["n"] == 2 and stats["ci95"] is None
    data = list(np.random.default_rng(1).normal(10, 1, 50))
    first, second = summarize(data), summarize(data)
    assert first["ci95"] == second["ci95"]
    low, high = first["ci95"]
    assert low < first["mean"] < high
    assert set(STATISTICS) <= set(first)


def test_cell_summary_pools_sample_level_metrics_over_records():
    other = {**RECORD, "latency_s": 4.0, "output_tokens": [1, 2, 3, 4]}
    summary = summarize_records([RECORD, other])
    assert summary["latency_s"]["n"] == 2
    assert summary["latency_s"]["mean"] == 3.0
    assert summary["output_tokens"]["n"] == 8
    assert summary["output_tokens"]["mean"] == pytest.approx((36 + 10) / 8)


def test_output_tokens_stop_at_the_first_eos():
    generated = torch.tensor([[5, 6, 2, 0, 0], [5, 6, 7, 8, 9], [2, 0, 0, 0, 0], [5, 9, 9, 9, 2]])
    assert count_output_tokens(generated, {2}) == [3, 5, 1, 5]
    assert count_output_tokens(generated, {2, 7}) == [3, 3, 1, 5]
    assert count_output_tokens(generated, set()) == [5, 5, 5, 5]


class ScriptedModel(torch.nn.Module):
    """Stands in for a model whose timings are known exactly: the first token after a forward call of
    `prefill_s`, then one forward call of `step_s` per token (each step's work happens before its
    token is checked by the stopping criteria, as in transformers' generate)."""

    def __init__(self, prefill_s: float, step_s: float, steps: int) -> None:
        super().__init__()
        self.prefill_s, self.step_s, self.steps = prefill_s, step_s, steps

    def forward(self, input_ids, step):
        time.sleep(self.prefill_s if step == 0 else self.step_s)
        return torch.full((input_ids.shape[0], 1), 7)

    def generate(self, input_ids, generation_config, stopping_criteria, **_):
        rows = [input_ids]
        for step in range(self.steps):
            token = self(input_ids, step)
            rows.append(token)
            assert not stopping_criteria(torch.cat(rows, dim=1), None).any(), "the marker never stops generate"
        return torch.cat(rows, dim=1)


def test_window_timings_match_a_scripted_model():
    model = ScriptedModel(prefill_s=0.08, step_s=0.02, steps=5)
    loaded = SimpleNamespace(
        model=model,
        tokenizer=SimpleNamespace(decode=lambda ids, **_: "x" * len(ids)),
        speculative=None,
        target=None,
        compile_config=None,
    )
    batch = PreparedBatch({"input_ids": torch.ones(2, 3, dtype=torch.long)}, ["a", "b"], [3, 3], [0, 0], [0, 0], 3)
    config = SimpleNamespace(eos_token_id=2)
    result = timed_generate(loaded, batch, config, WallClock())
    expected_latency = 0.08 + 4 * 0.02
    assert expected_latency <= result.latency_s < expected_latency + 0.04
    assert 0.08 <= result.ttft_s < 0.08 + 0.02
    assert result.steps == 5 and result.output_tokens == [5, 5]
    tpot = METRICS["tpot_s"].values([{"latency_s": result.latency_s, "ttft_s": result.ttft_s, "decode_steps": 5}])[0]
    assert 0.02 <= tpot < 0.02 + 0.01
    stages = result.stages
    assert 0.08 <= stages["prefill_s"] < 0.08 + 0.01, "the first forward call is the prefill"
    assert 4 * 0.02 <= stages["decode_s"] < 4 * 0.02 + 0.02, "every later forward call is decoding"
    assert stages["vision_s"] is None and stages["projector_s"] is None, "a model without a vision tower"
    assert 0 <= stages["generate_overhead_s"] < 0.01
