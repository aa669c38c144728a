"""`vlmperf run`, `report` and `runs` end to end through the console script, and the example config.

The README's first command (a fresh folder, a fresh model cache) and the reports on its results run
the real console script; a failing cell and the example config call its entry point in this process.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from vlmperf.metrics.definitions import metrics_for
from vlmperf.metrics.summary import STATISTICS

from fixtures.cli import quick_args, run_cli
from fixtures.summary_shapes import assert_declared

ROOT = Path(__file__).resolve().parents[1]
NEEDS_A_SENSOR_OR_SETTING = {
    "energy_j",
    "energy_above_idle_j",
    "energy_per_sample_j",
    "energy_per_output_token_j",
    "power_w",
    "idle_power_w",
    "mfu",
    "recompiles",
    "acceptance_rate",
    "mean_accepted_tokens",
    "limit_prefill_s",
    "limit_decode_s",
    "limit_latency_s",
    "limit_ratio",
    "mbu",
}
"""Null on this machine's default run: no energy counter, no known peak for a CPU (the limits and
utilisations need one), no compile, no drafts."""


def vlmperf(*args, env, cwd=None, timeout=300):
    return subprocess.run(
        [sys.executable, "-m", "vlmperf", *args],
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    return {**os.environ, "VLMPERF_CACHE": str(tmp_path_factory.mktemp("cache"))}


@pytest.fixture(scope="module")
def default_run(tmp_path_factory, env):
    """`vlmperf run` with no arguments, from a fresh folder: the README's first command."""
    workdir = tmp_path_factory.mktemp("work")
    result = vlmperf("run", env=env, cwd=workdir)
    assert result.returncode == 0, result.stderr
    return workdir, result


@pytest.mark.slow
def test_default_run_sweeps_batch_sizes_and_prints_a_table(default_run):
    workdir, result = default_run
    assert (workdir / "vlmperf-results" / "vlmperf.db").is_file()
    assert "scenario.batch_size" in result.stdout and "latency_ms p50" in result.stdout
    assert "Traceback" not in result.stderr
    assert "3 cells" in result.stderr, "the progress output names the sweep"


@pytest.mark.slow
def test_report_json_is_the_public_schema(default_run, env):
    workdir, _ = default_run
    result = vlmperf("report", "latest", "--format", "json", env=env, cwd=workdir)
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    run = document["run"]
    assert {"id", "created", "manifest"} <= set(run)
    manifest = run["manifest"]
    for key in ("vlmperf", "python", "torch", "packages", "cpu", "torch_threads", "git", "config", "cuda"):
        assert key in manifest, key
    assert manifest["packages"]["transformers"]
    assert manifest["wall_s"] > 0 and manifest["report_s"] > 0, "the time budget's run-level figures"
    cells = document["cells"]
    assert [c["config"]["scenario.batch_size"] for c in cells] == [1, 2, 4]
    for cell in cells:
        assert set(cell) >= {"id", "config", "status", "error", "metrics"}
        assert cell["status"] == "ok" and cell["error"] is None
        assert all("." in key for key in cell["config"]), "config keys are flat and dotted"
        reported = set(metrics_for("local")) - NEEDS_A_SENSOR_OR_SETTING
        assert reported <= set(cell["metrics"]), "every local metric is reported"
        assert not (NEEDS_A_SENSOR_OR_SETTING & set(cell["metrics"])), "no figure without its sensor or setting"
        quality = {"bleu_1", "bleu_2", "bleu_3", "bleu_4", "meteor", "rouge_l", "cider", "wer", "cer"}
        assert quality <= set(cell["metrics"]), "caption quality sits beside speed"
        assert cell["info"]["quality"]["implementation"]["cider"]["name"] == "pycocoevalcap"
        for name in reported:
            assert set(STATISTICS) <= set(cell["metrics"][name])
        assert_declared(cell["metrics"], f"the public JSON of local cell {cell['id']}")
        assert cell["metrics"]["vision_tokens"]["mean"] == 16
        assert cell["metrics"]["output_tokens"]["mean"] == 16, "the default run generates a fixed 16 tokens"
        assert cell["info"]["model"]["weights"] == "random (built-in model)"
    # the mechanism, not a timing claim (that belongs in benchmarks/): each generate call's latency is
    # shared by the samples of its batch
    for cell in cells:
        batch, metrics = cell["config"]["scenario.batch_size"], cell["metrics"]
        assert metrics["latency_s"]["p50"] > 0
        assert metrics["latency_per_sample_s"]["p50"] == pytest.approx(metrics["latency_s"]["p50"] / batch)


@pytest.mark.slow
def test_report_formats_and_runs_listing(default_run, env, tmp_path):
    workdir, _ = default_run
    md = vlmperf("report", "--format", "md", env=env, cwd=workdir)
    assert md.returncode == 0 and md.stdout.count("\n|") >= 4
    target = tmp_path / "cells.csv"
    written = vlmperf("report", "latest", "--format", "csv", "-o", str(target), env=env, cwd=workdir)
    assert written.returncode == 0, written.stderr
    rows = list(csv.DictReader(io.StringIO(target.read_text())))
    assert len(rows) == 3
    assert float(rows[0]["latency_s.p50"]) > 0 and rows[0]["scenario.batch_size"] == "1"
    pandas = pytest.importorskip("pandas")
    frame = pandas.read_csv(target)
    assert list(frame["scenario.batch_size"]) == [1, 2, 4]
    runs = vlmperf("runs", env=env, cwd=workdir)
    assert runs.returncode == 0 and "default" in runs.stdout and "complete" in runs.stdout


@pytest.mark.slow
def test_a_cell_that_fails_is_stored_and_the_sweep_goes_on(env, tmp_path):
    """flash_attention_2 is not installed here: that cell group fails to load, the sdpa group runs."""
    result = run_cli(
        "run",
        "--out",
        str(tmp_path),
        *quick_args(
            {
                "measure.min_runs": 2,
                "generation.max_new_tokens": None,
                "sweep.grid.target.attn_implementation": "[flash_attention_2, sdpa]",
            }
        ),
        env=env,
    )
    assert result.returncode == 0, result.stderr
    document = json.loads(run_cli("report", "--format", "json", "--out", str(tmp_path), env=env).stdout)
    by_attention = {c["config"]["target.attn_implementation"]: c for c in document["cells"]}
    assert by_attention["flash_attention_2"]["status"] == "failed"
    assert by_attention["flash_attention_2"]["error"]["type"]
    assert "flash" in by_attention["flash_attention_2"]["error"]["message"].lower()
    assert by_attention["sdpa"]["status"] == "ok"
    assert document["run"]["status"] == "complete"


@pytest.mark.slow
def test_example_config_runs_as_a_scaled_replica_on_cpu(env, tmp_path):
    result = run_cli(
        "run",
        str(ROOT / "examples" / "llava-1.5-7b-speed.yaml"),
        "--out",
        str(tmp_path),
        *quick_args(
            {
                "target.no_weights": True,
                "target.text_layers": 1,
                "target.vision_layers": 1,
                "target.device": "cpu",
                "target.dtype": "fp32",
                "scenario.batch_size": 1,
                "sweep.grid.scenario.batch_size": None,  # scenario.batch_size replaces the example's sweep
                "measure.flops": False,
                "workload.limit": 2,  # two of the ten built-in photos: one replica run each
            }
        ),
        env=env,
    )
    assert result.returncode == 0, result.stderr
    document = json.loads(run_cli("report", "--format", "json", "--out", str(tmp_path), env=env).stdout)
    (cell,) = document["cells"]
    assert cell["status"] == "ok", cell["error"]
    assert cell["config"]["target.model"] == "llava-hf/llava-1.5-7b-hf"
    assert cell["info"]["model"]["weights"] == "random (no_weights replica)"
    assert cell["metrics"]["vision_tokens"]["mean"] == 576, "llava-1.5 at 336 px: 24 x 24 patches"
