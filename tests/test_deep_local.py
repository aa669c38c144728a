"""The deep local figures through the real runner: FLOPs, stages, energy windows, the profile pass.

Energy: this machine has no sensor, so the window logic is checked against a counter of known
constant power (joules = P x perf_counter seconds): every window's power must come out as P, the
idle power as P, and what runs added to idle as zero, whatever the window sizes the runner chose.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import vlmperf.api as vp
from vlmperf.errors import InputError
from vlmperf.meters.analytic_flops import analytic_generate_flops

QUICK = [
    "measure.min_runs=2",
    "measure.warmup_runs=1",
    "measure.min_duration_s=0",
    "generation.max_new_tokens=4",
    "generation.mode=fixed",
    "workload.limit=3",
    "sweep.grid.scenario.batch_size=[1, 2]",
]


@pytest.fixture
def cache(results_dir):
    return results_dir


def test_flops_and_stages_are_recorded_for_every_timed_run(cache):
    outcome = vp.run(overrides=QUICK, out=cache)
    assert outcome.failed == 0
    document = vp.report(outcome.run_id, out=cache)
    records = vp.records_frame(outcome.run_id, out=cache).to_dict("records")
    from vlmperf.backends.local.presets import TINY_LLAVA

    for record in records:
        flops, batch = record["flops"], record["batch_size"]
        rows = len(record["input_tokens"])
        # the batch is left-padded to its longest prompt: the analytic count at that length
        expected = analytic_generate_flops(
            TINY_LLAVA.config,
            batch_size=rows,
            prompt_length=max(record["input_tokens"]),
            decode_steps=record["decode_steps"] - 1,
            images=rows,
        )
        assert flops["prefill"] == pytest.approx(expected.prefill_flops, rel=0.02)
        assert flops["decode"] == pytest.approx(expected.decode_flops, rel=0.02)
        stages = record["stages"]
        parts = [stages[k] for k in ("vision_s", "projector_s", "prefill_s", "decode_s", "generate_overhead_s")]
        assert all(p is not None and p >= 0 for p in parts[:4])
        assert sum(parts) == pytest.approx(record["latency_s"], rel=1e-6), "with the overhead, stages add up to latency"
        assert batch == rows
    counting_passes = sum(cell["info"]["flops"]["counted_shapes"] for cell in document["cells"])
    assert counting_passes == 1, "the analytic count is cross-checked once per loaded model, then used"
    for cell in document["cells"]:
        metrics, info = cell["metrics"], cell["info"]
        assert metrics["flops"]["mean"] == pytest.approx(
            metrics["prefill_flops"]["mean"] + metrics["decode_flops"]["mean"]
        )
        assert metrics["flops_per_s"]["n"] == metrics["latency_s"]["n"]
        assert "mfu" not in metrics, "no peak is known for a CPU: mfu is null, never guessed"
        cell_records = [r for r in records if r["cell_id"] == cell["id"]]
        shapes = {(tuple(r["input_tokens"]), r["decode_steps"]) for r in cell_records}
        assert len({tuple(r["sample_ids"]) for r in cell_records}) > len(shapes) == 1, "the samples share one shape"
        assert info["flops"]["counted_shapes"] + info["flops"]["analytic_shapes"] == 1, "one count per shape"
        assert info["flops"]["analytic"]["status"] == "agrees"
        assert info["flops"]["uncounted_ops"] == {}
        assert {"vision", "projector", "language_model", "lm_head"} <= set(info["flops"]["first_batch"]["by_stage"])
        assert "energy_j" not in metrics and info["energy"]["energy_source"] == "none"
        assert info["energy"]["why_none"], "the cell says why it has no energy figure"


class ConstantPower:
    """A counter of known constant power: joules = POWER_W x seconds on the host clock."""

    name = "rapl"
    max_read_interval_s = 3600.0
    POWER_W = 50.0

    def read_j(self) -> float:
        return self.POWER_W * time.perf_counter()

    def describe(self) -> dict:
        return {"zones": ["synthetic constant power"]}

    def close(self) -> None:
        """Nothing to release."""


@pytest.mark.slow
def test_energy_windows_read_a_known_power_exactly(cache, monkeypatch):
    import vlmperf.backends.local.energy_context as energy_context

    monkeypatch.setattr(energy_context, "open_energy_source", lambda device, requested: (ConstantPower(), None))
    monkeypatch.setattr(energy_context, "IDLE_WINDOW_S", 0.2)
    outcome = vp.run(overrides=[*QUICK, "measure.min_energy_window_s=0.15", "measure.flops=false"], out=cache)
    assert outcome.failed == 0
    records = vp.records_frame(outcome.run_id, out=cache).to_dict("records")
    windows = [r["energy"] for r in records if r["energy"] is not None]
    assert windows, "records that close a window carry its energy"
    assert sum(w["runs"] for w in windows) == len(records), "every timed run is in exactly one window"
    for window in windows:
        assert window["duration_s"] >= 0.15 * 0.9, "windows are repeated runs up to the minimum length"
        assert window["power_w"] == pytest.approx(ConstantPower.POWER_W, rel=1e-3)
        assert window["idle_power_w"] == pytest.approx(ConstantPower.POWER_W, rel=1e-3)
        assert abs(window["energy_above_idle_j"]) < 1e-3 * window["energy_j"]
    document = vp.report(outcome.run_id, out=cache)
    for cell in document["cells"]:
        metrics = cell["metrics"]
        assert metrics["power_w"]["p50"] == pytest.approx(ConstantPower.POWER_W, rel=1e-3)
        cell_windows = [
            w
            for r, w in zip(records, [r["energy"] for r in records], strict=True)
            if w and r["batch_size"] == cell["config"]["scenario.batch_size"]
        ]
        per_sample = [w["energy_j"] / w["samples"] for w in cell_windows]
        assert metrics["energy_per_sample_j"]["mean"] == pytest.approx(sum(per_sample) / len(per_sample))
        assert cell["info"]["energy"]["energy_source"] == "rapl"


def test_an_energy_source_named_but_missing_is_a_clear_error_before_the_run(cache):
    if Path("/sys/class/powercap/intel-rapl:0/energy_uj").exists():
        pytest.skip("this machine has RAPL")
    with pytest.raises(InputError, match="rapl"):
        vp.run(overrides=[*QUICK, "measure.energy=rapl"], out=cache)
    assert not (cache / "vlmperf.db").exists(), "nothing is stored for a run refused before it started"


@pytest.mark.slow
def test_profile_command_shows_layer_classes_across_batch_sizes(tmp_path, vlmperf_env):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "vlmperf",
            "profile",
            "--top",
            "100",
            "--out",
            str(tmp_path / "results"),
            *[arg for setting in QUICK for arg in ("--set", setting)],
        ],
        env=vlmperf_env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "top modules by self time" in out
    assert "LlamaDecoderLayer" in out and "CLIPEncoderLayer" in out
    assert "scenario.batch_size=1 self ms" in out and "scenario.batch_size=2 self ms" in out
    traces = sorted((tmp_path / "results" / "traces").rglob("*.trace.json"))
    assert len(traces) == 2
    assert "traceEvents" in json.loads(traces[0].read_text())
    report = subprocess.run(
        [sys.executable, "-m", "vlmperf", "report", "latest", "--out", str(tmp_path / "results"), "--format", "md"],
        env={**os.environ, **vlmperf_env},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert report.returncode == 0 and "top modules by self time" in report.stdout, "the report shows the profile too"


class FailsAfterIdle(ConstantPower):
    """Answers the idle window, then fails as a driver reset would (CounterError)."""

    def __init__(self) -> None:
        self.reads = 0

    def read_j(self) -> float:
        from vlmperf.meters.energy import CounterError

        self.reads += 1
        if self.reads > 2:
            raise CounterError("counter went backwards: a GPU reset?")
        return super().read_j()


@pytest.mark.slow
def test_a_counter_that_fails_mid_run_gives_null_energy_and_keeps_the_runs(cache, monkeypatch):
    import vlmperf.backends.local.energy_context as energy_context

    monkeypatch.setattr(energy_context, "open_energy_source", lambda device, requested: (FailsAfterIdle(), None))
    monkeypatch.setattr(energy_context, "IDLE_WINDOW_S", 0.05)
    outcome = vp.run(overrides=[*QUICK, "measure.flops=false", "sweep.grid.scenario.batch_size=[1]"], out=cache)
    assert outcome.failed == 0, "a failed counter costs the energy figure, not the cell"
    records = vp.records_frame(outcome.run_id, out=cache).to_dict("records")
    windows = [r["energy"] for r in records if r["energy"] is not None]
    assert windows and all(w["energy_j"] is None and "GPU reset" in w["energy_note"] for w in windows)
    assert "energy_j" not in vp.report(outcome.run_id, out=cache)["cells"][0]["metrics"]


def test_on_cuda_the_stages_come_from_one_replay_per_shape_after_the_window(cache, monkeypatch):
    """Where a stage mark costs the device time (CUDA events), the timed runs carry no hooks: the first
    run of each shape is replayed with them after the window, and its stages stand for the shape.
    Exercised here on CPU by taking the CUDA decision."""
    import vlmperf.backends.local.after_window as after_window
    import vlmperf.backends.local.generate as generate
    import vlmperf.backends.local.measure as measure

    monkeypatch.setattr(after_window, "stages_in_window", lambda device: False)
    hooked_in_timed_runs = []
    real = generate.timed_generate

    def spy(*args, stages=True, **kwargs):
        hooked_in_timed_runs.append(stages)
        return real(*args, stages=stages, **kwargs)

    monkeypatch.setattr(measure, "timed_generate", spy)
    outcome = vp.run(overrides=QUICK, out=cache)
    assert outcome.failed == 0
    records = vp.records_frame(outcome.run_id, out=cache).to_dict("records")
    document = vp.report(outcome.run_id, out=cache)
    replays = sum(cell["info"]["stages"]["replays"] for cell in document["cells"])
    shapes = {(r["cell_id"], tuple(r["input_tokens"]), r["decode_steps"]) for r in records}
    assert replays == len(shapes), "one replay per distinct shape"
    assert hooked_in_timed_runs.count(True) == replays, "hooks only in the replays: no timed run had them"
    for record in records:
        assert record["stages_source"] == "replay"
        assert record["stages"]["prefill_s"] > 0 and record["stages"]["decode_s"] > 0
    assert all(cell["info"]["time_s"]["stage_pass"] > 0 for cell in document["cells"])
    assert all(cell["metrics"]["prefill_s"]["n"] == cell["metrics"]["latency_s"]["n"] for cell in document["cells"])
