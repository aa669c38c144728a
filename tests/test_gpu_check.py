"""benchmarks/gpu_check.py: its logic end to end on CPU (--test-mode), its pieces on synthetic inputs,
and the GPU-only checks it runs (CUDA-event timing, timed_generate on CUDA), which skip without CUDA.

No timing is asserted on CPU: the figures are checked for presence and shape, not speed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))

# the benchmark modules are found through the sys.path entry just above, so they are imported after it
import gpu_check  # noqa: E402
import gpu_check_energy as energy  # noqa: E402
import gpu_check_runs as runs  # noqa: E402
import gpu_check_steps as steps  # noqa: E402
import harness_overhead  # noqa: E402

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

PIECES = {"bare_marker", "bare_stages", "bare_marks_sync", "timed_generate_outside", "timed_generate_reported"}
CUDA_STEPS = {s.name for s in gpu_check.STEPS if s.needs_cuda}


# ---------------------------------------------------------------------------------------------- end to end on CPU


@pytest.fixture(scope="module")
def test_mode_results(tmp_path_factory, vlmperf_env):
    """One --test-mode run of the whole check (about 40 s on 2 cores)."""
    out = tmp_path_factory.mktemp("gpu-check")
    done = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "gpu_check.py"), "--test-mode", "--out", str(out)],
        cwd=REPO,
        env=vlmperf_env,
        capture_output=True,
        text=True,
        timeout=400,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return out, json.loads((out / "gpu_check.json").read_text()), (out / "gpu_check.md").read_text()


@pytest.mark.slow
def test_every_step_is_recorded_with_a_status(test_mode_results):
    _, report, markdown = test_mode_results
    assert report["mode"] == "test" and report["complete"] and report["device"] == "cpu"
    assert list(report["steps"]) == [s.name for s in gpu_check.STEPS]
    for name, step in report["steps"].items():
        assert step["status"] in ("ok", "skipped"), (name, step)
        assert f"`{name}`" in markdown
    for name in CUDA_STEPS:
        assert report["steps"][name]["status"] == "skipped" and "no CUDA" in report["steps"][name]["reason"]
    env = report["environment"]
    assert env["versions"]["transformers"] and env["versions"]["pydantic"]
    assert "orjson" in env["versions"]


@pytest.mark.slow
def test_the_tiny_models_harness_overhead_figures_and_ablation_are_there(test_mode_results):
    out, report, _ = test_mode_results
    step = report["steps"]["overhead_tiny"]
    assert step["status"] == "ok" and isinstance(step["goal_met"], bool)
    assert set(step["figures"]) == {"1", "2"}
    for figures in step["figures"].values():
        ratio = figures["ratio_reported_over_bare"]
        assert ratio["ci95_low"] <= ratio["median"] <= ratio["ci95_high"]
        assert figures["bare_ms"] > 0 and figures["reported_ms"] > 0
        assert set(figures["pieces_ratio_over_bare"]) == PIECES
    written = json.loads((out / "harness_overhead_tiny.json").read_text())
    assert written["settings"]["conditions"] == ["vlmperf", "bare", "bare_marker", "bare_stages", "bare_marks_sync"]
    assert all(set(e["pieces"]) == PIECES for e in written["results"].values())


@pytest.mark.slow
def test_optimisation_cells_report_status_latency_and_clear_failures(test_mode_results):
    _, report, _ = test_mode_results
    cells = {c["cell"]: c for c in report["steps"]["opt_cells"]["cells"]}
    assert len(cells) == len(gpu_check.PLANS["test"]["opt_cells"]["cells"])
    for name in ("b1 base", "b1 attn_implementation=eager", "b1 dtype=bf16", "b1 speculative=prompt-lookup"):
        assert cells[name]["status"] == "ok" and cells[name]["latency_ms_p50"] > 0, cells[name]
        assert cells[name]["agreement_vs_reference"] is not None
    assert cells["b1 attn_implementation=eager"]["latency_over_base"] > 0
    for name in ("b1 quantization=bnb-8bit", "b1 attn_implementation=flash_attention_2"):
        assert cells[name]["status"] == "failed" and "CUDA" in cells[name]["error"]
    profile = report["steps"]["profile"]
    assert set(profile["totals_ms"]) == {"scenario.batch_size=1", "scenario.batch_size=2"} and profile["top_modules"]


# ---------------------------------------------------------------------------------------------- the pieces


def test_a_step_out_of_time_or_without_cuda_is_skipped(tmp_path):
    args = gpu_check.parse_args(["--out", str(tmp_path)])
    ctx = steps.Context(out=tmp_path, work=tmp_path, device="cuda")
    cuda_step = next(s for s in gpu_check.STEPS if s.needs_cuda)
    assert "did not finish" in gpu_check.skip_reason(cuda_step, {}, ctx, args)
    ctx.env_facts["cuda_available"] = False
    assert "no CUDA" in gpu_check.skip_reason(cuda_step, {}, ctx, args)
    ctx.env_facts["cuda_available"] = True
    assert gpu_check.skip_reason(cuda_step, {}, ctx, args) is None
    assert gpu_check.skip_reason(cuda_step, "not in --quick", ctx, args) == "not in --quick"


@pytest.mark.slow
def test_a_hanging_step_is_killed_at_its_limit_with_its_children(tmp_path):
    ctx = steps.Context(out=tmp_path, work=tmp_path, device="cpu")
    code = (
        "import subprocess, sys, time; "
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); time.sleep(60)"
    )
    started = time.monotonic()
    call = ctx.call("hang", ["-c", code], limit_s=2)
    assert call.timed_out and time.monotonic() - started < 30
    assert steps.call_result(call)["status"] == "timeout"


def test_harness_overhead_builds_the_replica_target_it_is_asked_for():
    args = harness_overhead.parse_args(
        ["--model", "llava-1.5-7b", "--no-weights", "--dtype", "fp16", "--device", "cuda", "--text-layers", "2"]
    )
    target = harness_overhead.target_for(args)
    assert (target.model, target.no_weights, target.dtype, target.device, target.text_layers) == (
        "llava-1.5-7b",
        True,
        "fp16",
        "cuda",
        2,
    )
    assert harness_overhead.model_label(args) == "llava-1.5-7b (no_weights, 2 text layers, fp16)"
    with pytest.raises(SystemExit):
        harness_overhead.parse_args(["--text-layers", "2"])  # a scaled replica needs --no-weights


def test_power_is_integrated_over_exactly_the_window():
    samples = [(100.0 + 0.1 * i, 200.0) for i in range(51)]  # 200 W for 5 s
    assert energy.integrate_j(samples, 101.05, 103.05) == pytest.approx(400.0)
    ramp = [(0.0, 0.0), (10.0, 100.0)]  # a straight line: the mean of the edges times the span
    assert energy.integrate_j(ramp, 2.0, 4.0) == pytest.approx((20 + 40) / 2 * 2)
    assert energy.integrate_j(samples, 99.0, 101.0) is None, "a window the samples do not cover has no figure"


def test_nvidia_smi_lines_are_read_with_their_timestamps(tmp_path):
    path = tmp_path / "power.csv"
    path.write_text(
        "2025/01/31 12:00:00.100, 250.50\n2025/01/31 12:00:00.200, [N/A]\n2025/01/31 12:00:00.300, 251.5\ncut"
    )
    samples = energy.read_samples(path)
    assert [w for _, w in samples] == [250.5, 251.5]
    assert samples[1][0] - samples[0][0] == pytest.approx(0.2)


def test_windows_from_records_compare_with_sampled_power():
    def record(seq, start, e=None):
        return {"cell_id": "c", "seq": seq, "started_unix_s": start, "energy": e}

    records = [
        record(0, 10.0),
        record(1, 11.0, {"energy_j": 600.0, "duration_s": 2.0, "runs": 2, "window": 0}),
        record(2, 13.0, {"energy_j": 330.0, "duration_s": 1.0, "runs": 1, "window": 1}),
    ]
    windows = energy.energy_windows(records)
    assert [(w["start_unix_s"], w["end_unix_s"]) for w in windows] == [(10.0, 12.0), (13.0, 14.0)]
    samples = [(9.0 + 0.1 * i, 300.0) for i in range(80)]
    compared = energy.compare(windows, samples)
    assert [round(w["ratio_nvml_over_smi"], 6) for w in compared["windows"]] == [1.0, 1.1]
    assert compared["windows"][0]["within_10pct"] and compared["within_10pct"]
    assert compared["ratio_nvml_over_smi"] == pytest.approx(930 / 900)


def test_junit_outcomes_name_tests_as_node_ids_do(tmp_path):
    xml = tmp_path / "j.xml"
    xml.write_text(
        '<testsuites><testsuite><testcase classname="tests.test_energy" name="test_a"/>'
        '<testcase classname="tests.test_energy" name="test_b"><skipped message="no GPU"/></testcase>'
        '<testcase classname="tests.test_x" name="test_c"><failure message="boom"/></testcase>'
        "</testsuite></testsuites>"
    )
    outcomes = steps.junit_outcomes(xml)
    assert outcomes == {
        "tests.test_energy::test_a": "passed",
        "tests.test_energy::test_b": "skipped",
        "tests.test_x::test_c": "failed",
    }
    assert steps._junit_key("tests/test_energy.py::test_b") == "tests.test_energy::test_b"


def test_cells_are_matched_to_the_most_specific_wanted_cell():
    wanted = gpu_check._cells(8, gpu_check.EAGER)
    stored = [
        {
            "id": "e",
            "config": {"scenario.batch_size": 8, "target.attn_implementation": "eager"},
            "status": "ok",
            "metrics": {"latency_s": {"p50": 0.2}, "agreement_vs_reference": {"value": 1.0, "reference_cell": "b"}},
        },
        {
            "id": "b",
            "config": {"scenario.batch_size": 8, "target.attn_implementation": "sdpa"},
            "status": "ok",
            "metrics": {"latency_s": {"p50": 0.1}, "mbu": {"p50": 0.5}},
        },
    ]
    rows = runs.cell_rows({"cells": stored}, wanted)
    assert [(r["cell"], r["id"]) for r in rows] == [("b8 base", "b"), ("b8 attn_implementation=eager", "e")]
    assert rows[1]["latency_over_base"] == pytest.approx(2.0) and rows[0]["mbu"] == 0.5
    missing = runs.cell_rows({"cells": stored[1:]}, wanted)[1]
    assert missing["status"] == "not measured"


# ---------------------------------------------------------------------------------------------- GPU-only checks


@needs_cuda
def test_cuda_event_clock_agrees_with_the_host_clock():
    """A CUDA-event window around queued work measures the device's time: no more than the host saw
    from before the first launch to after the sync, and most of it for work that keeps the GPU busy."""
    from vlmperf.meters.clock import CudaEventClock

    clock = CudaEventClock("cuda")
    x = torch.randn(4096, 4096, device="cuda")
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    start = clock.mark()
    for _ in range(20):
        x = torch.tanh(x @ x)
    end = clock.mark()
    clock.synchronize()
    wall = time.perf_counter() - t0
    device = clock.elapsed_s(start, end)
    assert 0.8 * wall <= device <= wall * 1.01 + 1e-4, (device, wall)


@needs_cuda
def test_cuda_first_token_marker_never_waits_for_the_device():
    """The marker and the clock marks only record events: under sync-debug mode "error" any host wait raises."""
    from vlmperf.backends.local.generate import FirstTokenMarker
    from vlmperf.meters.clock import CudaEventClock

    clock = CudaEventClock("cuda")
    marker = FirstTokenMarker(clock)
    ids = torch.ones(4, 10, dtype=torch.long, device="cuda")
    torch.cuda.set_sync_debug_mode("error")
    try:
        for _ in range(6):
            marker(ids, None)
        clock.mark()
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert marker.steps == 6 and marker.first_token_mark is not None


@needs_cuda
def test_cuda_timed_generate_marks_the_first_token_and_the_stages(monkeypatch, vlmperf_cache):
    from vlmperf.backends.local.generate import generation_config, timed_generate
    from vlmperf.backends.local.inputs import prepare_batch
    from vlmperf.backends.local.loading import load_model
    from vlmperf.backends.local.target import LocalTarget
    from vlmperf.config.spec import Generation, Workload
    from vlmperf.meters.clock import clock_for
    from vlmperf.workloads.sources import load_samples
    from vlmperf.workloads.tasks import get_task

    monkeypatch.setenv("VLMPERF_CACHE", str(vlmperf_cache))
    loaded = load_model(LocalTarget(device="cuda"))
    workload, task = Workload(), get_task("caption")
    samples = load_samples(workload)[:2]
    batch = prepare_batch(
        loaded, samples, [task.prompt_for(s, task.default_prompt) for s in samples], max_input_len=None, device="cuda"
    )
    config = generation_config(loaded, Generation(max_new_tokens=8, mode="fixed"))
    clock = clock_for("cuda")
    timed_generate(loaded, batch, config, clock)  # warm-up
    result = timed_generate(loaded, batch, config, clock)
    assert clock.source == "cuda_event" and result.steps == 8 and result.output_tokens == [8, 8]
    assert 0 < result.ttft_s < result.latency_s
    stages = result.stages
    assert all(stages[k] >= 0 for k in ("vision_s", "projector_s", "prefill_s", "decode_s"))
    assert stages["vision_s"] + stages["projector_s"] + stages["prefill_s"] + stages["decode_s"] <= result.latency_s


FAKE_NVIDIA_SMI = """#!{python}
import datetime, sys, time
args = sys.argv[1:]
query = next(a for a in args if a.startswith("--query-gpu=")).split("=", 1)[1]
if "-lms" not in args:  # a one-shot probe: this driver has no instantaneous reading
    print("[N/A]" if query == "power.draw.instant" else "150.0")
    sys.exit(0)
with open(args[args.index("-f") + 1], "w") as sink:
    try:
        while True:
            stamp = datetime.datetime.now().strftime("%Y/%m/%d %H:%M:%S.%f")[:-3]
            sink.write(stamp + ", 150.0\\n")
            sink.flush()
            time.sleep(0.05)
    except KeyboardInterrupt:
        pass
"""


@pytest.mark.slow
def test_the_power_sampler_runs_while_its_block_runs_and_stops_after(tmp_path, monkeypatch):
    """With a stand-in nvidia-smi on PATH: the probe falls back to power.draw, the sampler's lines
    integrate to its constant power over a window inside the block, and the sampler is gone after."""
    fake = tmp_path / "bin" / "nvidia-smi"
    fake.parent.mkdir()
    fake.write_text(FAKE_NVIDIA_SMI.format(python=sys.executable))
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}:{os.environ['PATH']}")
    field = energy.power_field("GPU-0")
    assert field == "power.draw"
    path = tmp_path / "power.csv"
    sampler = energy.PowerSampler(path, "GPU-0", field, period_ms=50)
    with sampler:
        time.sleep(0.5)
        start = time.time()
        time.sleep(0.5)
        end = time.time()
        time.sleep(0.3)
    assert sampler._proc.poll() is not None, "the sampler is stopped when the block ends"
    samples = energy.read_samples(path)
    assert energy.integrate_j(samples, start, end) == pytest.approx(150.0 * (end - start), rel=1e-6)
