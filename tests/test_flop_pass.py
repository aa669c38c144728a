"""The FLOP pass: once per shape; for a verified architecture one counter pass per loaded model as a
cross-check, then the analytic count; a disagreement or a missing formula keeps the counter on every shape."""

from __future__ import annotations

import dataclasses

import pytest

import vlmperf.backends.local.flop_pass as flop_pass
from vlmperf.backends.local.flop_pass import AnalyticCheck, FlopPass, shape_key
from vlmperf.backends.local.generate import generation_config
from vlmperf.backends.local.inputs import prepare_batch
from vlmperf.config.spec import Generation, Workload
from vlmperf.errors import InputError
from vlmperf.meters.flops import count_generate_flops
from vlmperf.workloads.sources import load_samples
from vlmperf.workloads.tasks import get_task

NEW_TOKENS = 3


@pytest.fixture(scope="module")
def setup(tiny_llava):
    """Two batches of different shapes (one row, two rows) and the timed run's generate call."""
    loaded = tiny_llava
    samples = load_samples(Workload(task="vqa", source="builtin", limit=2))
    prompts = [get_task("vqa").prompt_for(s) for s in samples]
    one = prepare_batch(loaded, samples[:1], prompts[:1], max_input_len=None, device="cpu")
    two = prepare_batch(loaded, samples, prompts, max_input_len=None, device="cpu")
    config = generation_config(loaded, Generation(max_new_tokens=NEW_TOKENS, mode="fixed"))

    def run_generate(batch):
        return loaded.model.generate(**batch.inputs, generation_config=config)

    return loaded.model, run_generate, one, two


def _count(flops, batch):
    return flops.count(batch, shape_key(batch, NEW_TOKENS), NEW_TOKENS)


def test_after_an_agreeing_cross_check_later_shapes_take_the_analytic_count(setup):
    model, run_generate, one, two = setup
    flops = FlopPass(model, run_generate, AnalyticCheck())
    first = _count(flops, one)
    assert first["source"] == "counted"
    second = _count(flops, two)
    assert second["source"] == "analytic"
    info = flops.info()
    assert (info["counted_shapes"], info["analytic_shapes"]) == (1, 1), "one counter pass in all"
    assert info["analytic"]["status"] == "agrees"
    cross_check = info["analytic"]["cross_check"]
    assert cross_check["counted"]["prefill"] == cross_check["analytic"]["prefill"]
    # the analytic figure is what the counter gives for that shape, counted independently here
    counted = count_generate_flops(model, lambda: run_generate(two))
    assert (second["prefill"], second["decode"]) == (counted.prefill_flops, counted.decode_flops)
    assert _count(flops, two) is second, "a shape seen before is not computed again"


def test_a_disagreement_is_recorded_and_the_counter_counts_every_shape(setup, monkeypatch):
    model, run_generate, one, two = setup
    real = flop_pass.analytic_count

    def off_by_one(*args):
        flops = real(*args)
        return dataclasses.replace(flops, prefill_flops=flops.prefill_flops + 1)

    monkeypatch.setattr(flop_pass, "analytic_count", off_by_one)
    flops = FlopPass(model, run_generate, AnalyticCheck())
    _count(flops, one)
    assert _count(flops, two)["source"] == "counted", "the counted figure wins"
    info = flops.info()
    assert info["analytic"]["status"] == "disagrees"
    cross_check = info["analytic"]["cross_check"]
    assert cross_check["analytic"]["prefill"] == cross_check["counted"]["prefill"] + 1
    assert (info["counted_shapes"], info["analytic_shapes"]) == (2, 0)


def test_without_a_formula_or_for_speculative_cells_every_shape_is_counted(setup, monkeypatch):
    model, run_generate, one, two = setup

    def no_formula(*_):
        raise InputError("no analytic FLOP formula for a 'mystery' language model")

    monkeypatch.setattr(flop_pass, "analytic_count", no_formula)
    flops = FlopPass(model, run_generate, AnalyticCheck())
    assert _count(flops, one)["source"] == _count(flops, two)["source"] == "counted"
    why = "no analytic FLOP formula for a 'mystery' language model"
    assert flops.info()["analytic"] == {"status": "unavailable", "why": why}
    speculative = FlopPass(model, run_generate, None)
    _count(speculative, one)
    assert speculative.info()["analytic"] == {"status": "off"} and speculative.counted_shapes == 1


def test_cells_on_one_loaded_model_share_the_cross_check(setup):
    model, run_generate, one, two = setup
    check = AnalyticCheck()
    first_cell, second_cell = FlopPass(model, run_generate, check), FlopPass(model, run_generate, check)
    assert _count(first_cell, one)["source"] == "counted"
    assert _count(second_cell, two)["source"] == "analytic", "the second cell needs no counting pass"
    assert second_cell.counted_shapes == 0 and second_cell.info()["analytic"]["status"] == "agrees"
