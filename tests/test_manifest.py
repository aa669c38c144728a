"""The manifest records what a run was measured with; unreadable facts are null, never a failure."""

from __future__ import annotations

import subprocess
from pathlib import Path

from vlmperf.runner import manifest as manifest_module
from vlmperf.runner.manifest import build_manifest


def test_local_manifest_has_versions_hardware_code_and_config(tmp_path, monkeypatch):
    """Each fact equals what the machine itself says (read here through another path where one exists)."""
    import os
    import platform
    import sys
    from importlib import metadata

    import torch

    import vlmperf

    monkeypatch.chdir(tmp_path)  # not a git checkout: git is null, not an error
    manifest = build_manifest({"name": "x"}, local=True, devices=["cpu", "cpu"])
    assert manifest["vlmperf"] == vlmperf.__version__
    assert manifest["python"] == platform.python_version() and manifest["python_executable"] == sys.executable
    assert manifest["cpu_count"] == os.cpu_count()
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = next(line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name"))
    assert manifest["cpu"] == model
    assert manifest["packages"]["transformers"] == metadata.version("transformers")
    assert manifest["packages"]["numpy"] == metadata.version("numpy")
    assert manifest["torch"] == torch.__version__ and manifest["torch_threads"] == torch.get_num_threads()
    assert manifest["cuda"] == torch.version.cuda and manifest["cuda_available"] is torch.cuda.is_available()
    assert manifest["devices"] == {"cpu": model}, "one entry per device, named"
    assert manifest["gpu_telemetry"] == {}, "no GPU among the devices"
    assert manifest["git"] is None
    assert manifest["config"] == {"name": "x"}


def test_git_commit_and_uncommitted_changes_are_recorded(tmp_path, monkeypatch):
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True, text=True).stdout.strip()

    git("init", "-q")
    (tmp_path / "a.txt").write_text("one")
    git("add", "a.txt")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "one")
    monkeypatch.chdir(tmp_path)
    clean = build_manifest({}, local=False)["git"]
    assert clean == {"commit": git("rev-parse", "HEAD"), "dirty": False} and len(clean["commit"]) == 40
    (tmp_path / "a.txt").write_text("two")
    assert build_manifest({}, local=False)["git"] == {"commit": clean["commit"], "dirty": True}


def test_driver_version_falls_back_to_the_kernel_module(tmp_path, monkeypatch):
    version = tmp_path / "version"
    version.write_text("NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.15  Tue Mar  5 22:23:56 UTC 2024\n")
    real_path = manifest_module.Path
    monkeypatch.setattr(
        manifest_module, "Path", lambda p: version if p == "/proc/driver/nvidia/version" else real_path(p)
    )
    assert manifest_module._nvidia_driver() == "550.54.15"


def test_endpoint_manifest_does_not_need_torch():
    manifest = build_manifest({}, local=False)
    assert "torch" not in manifest and "devices" not in manifest
