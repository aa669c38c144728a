"""The manifest records what a run was measured with; unreadable facts are null, never a failure."""

from __future__ import annotations

from vlmperf.runner import manifest as manifest_module
from vlmperf.runner.manifest import build_manifest


def test_local_manifest_has_versions_hardware_code_and_config(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # not a git checkout: git is null, not an error
    manifest = build_manifest({"name": "x"}, local=True, devices=["cpu", "cpu"])
    for key in (
        "vlmperf",
        "python",
        "platform",
        "cpu",
        "cpu_count",
        "torch",
        "torch_threads",
        "cuda",
        "driver",
        "config",
    ):
        assert key in manifest, key
    assert manifest["git"] is None
    assert manifest["packages"]["transformers"]
    assert list(manifest["devices"]) == ["cpu"]
    assert manifest["config"] == {"name": "x"}


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
