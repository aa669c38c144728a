"""A real OpenAI-compatible server: `transformers serve` on loopback with the built-in tiny LLaVA,
captioning the built-in photos through vlmperf, streamed and not."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

import vlmperf.api as vp

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def served_model(tmp_path_factory, vlmperf_env):
    """(base URL, model folder) of `transformers serve` running the built-in tiny LLaVA."""
    from vlmperf.backends.local.presets import find_preset
    from vlmperf.backends.local.replica import saved_preset_dir

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("VLMPERF_CACHE", vlmperf_env["VLMPERF_CACHE"])
        folder = saved_preset_dir(find_preset("builtin:tiny-llava"))
    executable = str(Path(sys.executable).with_name("transformers"))
    if not Path(executable).exists():
        executable = shutil.which("transformers") or executable
    port = _free_port()
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    env = {**vlmperf_env, "HF_HUB_OFFLINE": "1"}
    with log.open("w") as sink:
        server = subprocess.Popen(
            [executable, "serve", "--host", "127.0.0.1", "--port", str(port), str(folder)],
            stdout=sink,
            stderr=subprocess.STDOUT,
            env=env,
            stdin=subprocess.DEVNULL,
        )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"transformers serve did not start:\n{log.read_text()[-3000:]}") from None
                time.sleep(0.5)
        yield f"http://127.0.0.1:{port}/v1", folder
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_captions_through_transformers_serve_streamed_and_not(served_model, tmp_path):
    base_url, folder = served_model
    config = tmp_path / "serve.yaml"
    config.write_text(
        f"target: {{kind: endpoint, preset: transformers-serve, base_url: '{base_url}', model: '{folder}'}}\n"
        "workload: {task: caption, limit: 3}\n"
        "generation: {max_new_tokens: 8}\n"
        "measure: {warmup_runs: 1, min_runs: 3}\n"
        "sweep: {grid: {target.stream: [true, false]}}\n"
    )
    out = tmp_path / "results"
    outcome = vp.run(config, out=out)
    assert (outcome.cells, outcome.failed) == (2, 0)
    cells = {cell["config"]["target.stream"]: cell for cell in vp.report(outcome.run_id, out=out)["cells"]}
    for cell in cells.values():
        metrics = cell["metrics"]
        assert cell["status"] == "ok" and metrics["error_rate"]["value"] == 0, cell
        assert metrics["requests"]["value"] == 3
        assert 0 < metrics["ttft_s"]["p50"] <= metrics["e2e_s"]["p50"] < 60
        assert metrics["output_chars"]["min"] > 0 and metrics["image_bytes"]["min"] > 0
        assert 1 <= metrics["output_tokens"]["max"] <= 8
        assert {"bleu_4", "cider", "wer"} <= set(metrics), "the answers are scored like a local model's"
    streamed = cells[True]["metrics"]
    assert streamed["ttft_s"]["p50"] < streamed["e2e_s"]["p50"], "a stream's first token comes before its last"
    assert "itl_s" in streamed
