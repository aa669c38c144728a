"""What this machine lacks fails the cells that ask for it, with what to install; the sweep goes on."""

from __future__ import annotations

import pytest
import torch

import vlmperf.api as vp
from vlmperf.backends.local import availability
from vlmperf.backends.local.loading import load_model
from vlmperf.backends.local.target import LocalTarget
from vlmperf.errors import InputError

without_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the messages of a machine without CUDA")


@without_cuda
def test_a_cuda_device_on_a_machine_without_one_says_what_to_do():
    with pytest.raises(InputError, match=r"sees no CUDA device.*target.device=cpu"):
        availability.check_device("cuda")


def test_flash_attention_on_cpu_points_to_sdpa():
    with pytest.raises(InputError, match=r"flash_attention_2 runs on CUDA GPUs only.*sdpa"):
        availability.check_attention("flash_attention_2", "cpu")
    availability.check_attention("sdpa", "cpu")


def test_flash_attention_without_its_package_says_how_to_install_it(monkeypatch):
    monkeypatch.setattr(availability, "installed_version", lambda module: None)
    with pytest.raises(InputError, match=r"flash_attn package.*pip install flash-attn --no-build-isolation"):
        availability.check_attention("flash_attention_2", "cuda")


def test_bitsandbytes_on_cpu_points_to_torchao():
    for kind in ("bnb-8bit", "bnb-4bit"):
        with pytest.raises(InputError, match=r"bitsandbytes\) runs on CUDA GPUs only.*torchao-int8"):
            availability.check_quantization(kind, "cpu")


def test_a_missing_quantization_package_says_how_to_install_it(monkeypatch):
    monkeypatch.setattr(availability, "installed_version", lambda module: None)
    with pytest.raises(
        InputError, match=r"torchao-int8 needs the torchao package.*pip install 'vlmperf\[quantization\]'"
    ):
        availability.check_quantization("torchao-int8", "cpu")
    with pytest.raises(InputError, match=r"bnb-4bit needs the bitsandbytes package.*pip install"):
        availability.check_quantization("bnb-4bit", "cuda")


def test_compile_on_cpu_without_a_compiler_says_so(monkeypatch):
    monkeypatch.setattr(availability.shutil, "which", lambda name: None)
    with pytest.raises(InputError, match=r"C\+\+ compiler.*target.compile off"):
        availability.check_compile("default", "cpu")
    availability.check_compile("off", "cpu")


def test_load_model_refuses_before_reading_weights(tmp_path, monkeypatch):
    """load_model is where these checks run, so each fails its own cell (stage load)."""
    monkeypatch.setenv("VLMPERF_CACHE", str(tmp_path))
    with pytest.raises(InputError, match="flash_attention_2"):
        load_model(LocalTarget(attn_implementation="flash_attention_2"))
    assert not (tmp_path / "models").exists(), "nothing was built or read"


def test_report_lists_what_is_installed():
    found = availability.report()
    assert found["torch"] == torch.__version__
    assert set(found["packages"]) == {"torchao", "bitsandbytes", "flash_attn", "triton"}


@without_cuda
def test_a_sweep_finishes_the_cells_this_machine_can_run_and_fails_the_others(tmp_path, monkeypatch):
    """device [cpu, cuda], flash_attention_2 and bitsandbytes on CPU: through the real runner."""
    monkeypatch.setenv("VLMPERF_CACHE", str(tmp_path / "cache"))
    config = tmp_path / "run.yaml"
    config.write_text(
        "measure: {min_runs: 1, warmup_runs: 0, min_duration_s: 0, flops: false}\n"
        "generation: {max_new_tokens: 2}\n"
        "workload: {limit: 1}\n"
        "sweep:\n"
        "  cells:\n"
        "    - {target.device: cpu}\n"
        "    - {target.device: cuda}\n"
        "    - {target.attn_implementation: flash_attention_2}\n"
        "    - {target.quantization: bnb-8bit}\n"
    )
    outcome = vp.run(config, out=tmp_path / "results")
    assert (outcome.status, outcome.cells, outcome.failed) == ("complete", 4, 3)
    cells = vp.report(outcome.run_id, out=tmp_path / "results")["cells"]
    ok = [c for c in cells if c["status"] == "ok"]
    assert len(ok) == 1 and ok[0]["config"]["target.device"] == "cpu", [c["error"] for c in cells]
    assert ok[0]["config"]["target.attn_implementation"] == "sdpa" and ok[0]["metrics"]["latency_s"]["n"] == 1
    failed = {c["error"]["message"]: c for c in cells if c["status"] == "failed"}
    messages = "\n".join(failed)
    assert "'cuda'" in messages and "sees no CUDA device" in messages, messages
    assert "flash_attention_2 runs on CUDA GPUs only" in messages, messages
    assert "bnb-8bit (bitsandbytes) runs on CUDA GPUs only" in messages, messages
    assert all(c["info"]["failed_at"] == "load" for c in failed.values())


def test_threads_are_set_at_load_recorded_and_given_back(vlmperf_cache, monkeypatch):
    monkeypatch.setenv("VLMPERF_CACHE", str(vlmperf_cache))
    one = load_model(LocalTarget(threads=1)).info["threads"]
    assert one["requested"] == 1 and one["intra_op_threads"] == 1 == torch.get_num_threads()
    assert one["interop_threads"] == torch.get_num_interop_threads()
    default = load_model(LocalTarget()).info["threads"]
    assert default["requested"] is None, "recorded also when not set"
    assert default["intra_op_threads"] == default["default_intra_op_threads"] == torch.get_num_threads()
