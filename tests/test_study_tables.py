"""`report --format study`: the provider study's and the local study's tables, as their authors laid them out."""

from __future__ import annotations

from pathlib import Path

import pytest

import vlmperf.api as vp
from vlmperf.report.study_tables import model_type, render_study_markdown

from fixtures import scripted_server as ss
from fixtures.cli import run_cli

ROOT = Path(__file__).resolve().parents[1]
VLM_HEADER = (
    "| Model ID | Type | Provider | Avg Latency | Median Latency | Min / Max Latency | Avg Caption Length "
    "| p90 latency | p99 latency | 95% CI of avg latency | requests |"
)
TEXT_HEADER = (
    "| Model ID | Type | Provider | Avg Latency | Median Latency | Avg Captions/Request | Total Captions "
    "| Avg Response Length | p90 latency | p99 latency | 95% CI of avg latency | requests |"
)


def latency(mean, p50, low, high, p90, p99, ci, n=10):
    return {"mean": mean, "p50": p50, "min": low, "max": high, "p90": p90, "p99": p99, "ci95": ci, "n": n}


def endpoint_cell(cell_id, label, task, provider, metrics, *, preset="hf-router", status="ok", error=None):
    config = {
        "target.kind": "endpoint",
        "target.preset": preset,
        "target.model": f"org/{label}",
        "target.provider": provider,
        "target.label": label,
        "workload.task": task,
    }
    return {
        "id": cell_id,
        "config": config,
        "swept": {"target.label": label},
        "status": status,
        "error": error,
        "metrics": metrics,
        "info": {},
    }


def document(cells, status="complete"):
    return {"run": {"id": "r1", "name": "providers", "status": status}, "cells": cells}


PROVIDERS = document(
    [
        endpoint_cell(
            "c1",
            "qwen_2_5_vl",
            "caption",
            "hyperbolic",
            {"e2e_s": latency(2.351, 2.19, 1.47, 3.93, 3.1, 3.8, [2.1, 2.6]), "output_chars": {"mean": 296.2}},
        ),
        endpoint_cell(
            "c2",
            "github_gpt41",
            "caption",
            None,
            {
                "e2e_s": latency(2.16, 2.14, 1.2, 3.82, 3.0, 3.7, None),
                "output_chars": {"mean": 239.0},
                "error_rate": {"value": 0.2, "by_class": {"timeout_total": 2}},
            },
            preset="github-models",
        ),
        endpoint_cell(
            "c3",
            "mixtral_8x7b_together",
            "text",
            "together",
            {
                "e2e_s": latency(4.88, 3.73, 2.0, 9.0, 7.5, 8.9, [4.1, 5.7]),
                "output_chars": {"mean": 374.4},
                "captions_per_request": {"mean": 3.0},
                "total_captions": {"value": 27},
            },
        ),
        endpoint_cell(
            "c4",
            "broken|model",
            "text",
            "novita",
            {},
            status="failed",
            error={"type": "EndpointError", "message": "401 Unauthorized\nmore"},
        ),
    ]
)


def test_the_provider_tables_are_laid_out_as_the_study_did():
    lines = render_study_markdown(PROVIDERS).splitlines()
    assert lines[0] == "### run r1 (providers)"
    vlm = lines.index("#### Vision-language models")
    assert lines[vlm + 2] == VLM_HEADER
    assert lines[vlm + 4] == (
        "| `qwen_2_5_vl` | VLM | hyperbolic | 2.35s | 2.19s | 1.47s / 3.93s | 296 chars "
        "| 3.1s | 3.8s | 2.1 – 2.6s | 10 |"
    )
    assert lines[vlm + 5].startswith(
        "| `github_gpt41` | VLM | github-models | 2.16s | 2.14s | 1.2s / 3.82s | 239 chars |"
    )
    assert lines[vlm + 5].endswith("| - | 10 |"), "no interval: shown as -"
    text = lines.index("#### Text models")
    assert lines[text + 2] == TEXT_HEADER
    assert lines[text + 4] == (
        "| `mixtral_8x7b_together` | text | together | 4.88s | 3.73s | 3.0 | 27 | 374 chars "
        "| 7.5s | 8.9s | 4.1 – 5.7s | 10 |"
    )
    assert "- `github_gpt41`: 20% of requests failed (timeout_total 2); latency is of the rest" in lines
    assert "- cell c4 failed: EndpointError: 401 Unauthorized" in lines


def test_the_type_comes_from_the_task_registry():
    assert [model_type(c) for c in PROVIDERS["cells"]] == ["VLM", "VLM", "text", "text"]
    assert model_type({"config": {"workload.task": "textvqa"}}) == "VLM"
    assert model_type({"config": {"workload.task": "no-such-task"}}) == "-"


def local_cell(cell_id, swept, metrics):
    config = {
        "target.kind": "local",
        "target.model": "llava-hf/llava-1.5-7b-hf",
        "scenario.batch_size": 1,
        "workload.task": "textvqa",
        **swept,
    }
    return {
        "id": cell_id,
        "config": config,
        "swept": swept,
        "status": "ok",
        "error": None,
        "metrics": metrics,
        "info": {},
    }


def test_the_local_table_has_one_row_per_point_with_quality_latency_energy_and_flops():
    base = {
        "latency_s": {"p50": 0.34951892890930175, "p90": 0.36, "p99": 0.371, "ci95": [0.3401, 0.3553], "n": 40},
        "wer": {"value": 8.134883880615234},
        "vqa_accuracy": {"value": 0.5812},
    }
    cells = [
        local_cell(
            "b1",
            {"scenario.batch_size": 1},
            {**base, "energy_per_sample_j": {"mean": 93.81820333957673}, "flops": {"mean": 11.03e12}},
        ),
        local_cell("b16", {"scenario.batch_size": 16}, {**base, "flops": {"mean": 8.27e12}}),
        local_cell("cpu", {"target.device": "cpu"}, {"latency_s": {"p50": 8.373709375813803, "n": 3}}),
    ]
    cells[0]["metrics"].update({"limit_ratio": {"p50": 38.41}, "mbu": {"p50": 0.0213}})
    lines = render_study_markdown(document(cells)).splitlines()
    assert lines[2] == (
        "| scenario.batch_size | target.device | quality | wer | latency p50 | energy / sample | FLOPs / sample "
        "| limit ratio | MBU | latency p90 | latency p99 | 95% CI of mean latency | runs |"
    )
    assert lines[4] == (
        "| 1 | - | vqa_accuracy 0.581 | 8.135 | 0.3495s | 93.82 J | 11.03 TFLOP | 38.4x | 2.1% "
        "| 0.36s | 0.371s | 0.3401 – 0.3553s | 40 |"
    )
    assert lines[5].startswith("| 16 | - | vqa_accuracy 0.581 | 8.135 | 0.3495s | - | 8.27 TFLOP | - | - |"), (
        "no sensor, no peaks: -"
    )
    assert lines[6] == "| 1 | cpu | - | - | 8.374s | - | - | - | - | - | - | - | 3 |"
    assert lines[7:] == [], "no reason recorded for the missing limits: no line about them"


def test_a_point_without_a_limit_ratio_says_why_once_per_reason():
    """The reasons come from each cell's info.limits (a missing peak, no byte count), each said once."""
    gpu = {"peak_flops_per_s": 9.89e14, "peak_memory_bandwidth_bytes_per_s": 4.8e12, "missing": []}
    cpu = {
        "peak_flops_per_s": None,
        "peak_memory_bandwidth_bytes_per_s": None,
        "missing": ["peak FLOP/s: a CPU has no published peak; give target.peak_flops_per_s"],
    }
    no_bytes = {**gpu, "why_no_memory_traffic": "the model's config | names no hidden size"}
    cells = [local_cell(name, {"target.device": name}, {"latency_s": {"p50": 1.0, "n": 3}}) for name in "abcd"]
    cells[0]["metrics"]["limit_ratio"] = {"p50": 2.0}
    for cell, limits in zip(cells, (gpu, cpu, cpu, no_bytes), strict=True):
        cell["info"]["limits"] = limits
    lines = render_study_markdown(document(cells)).splitlines()
    assert [line.split(" | ")[4] for line in lines[4:8]] == ["2.0x", "-", "-", "-"]
    assert lines[9] == (
        "- no limit ratio for 3 of 4 point(s): peak FLOP/s: a CPU has no published peak; give target.peak_flops_per_s; "
        "the model's config \\| names no hidden size"
    )


def test_a_run_with_both_kinds_gets_both_tables_and_an_empty_run_says_so():
    both = document(
        [PROVIDERS["cells"][0], local_cell("b1", {"scenario.batch_size": 1}, {"latency_s": {"p50": 1.0}})],
        status="partial",
    )
    text = render_study_markdown(both)
    assert text.startswith("### run r1 (providers) [partial]")
    assert "#### Vision-language models" in text and "| scenario.batch_size | latency p50 |" in text
    empty = render_study_markdown(document([PROVIDERS["cells"][3]]))
    assert "no cell finished: there is nothing to tabulate" in empty and "broken\\|model" not in empty


def test_cells_of_a_kind_not_registered_here_are_named_not_dropped():
    cell = local_cell("e1", {"scenario.batch_size": 1}, {"latency_s": {"p50": 1.0}})
    stranger = {**cell, "id": "x1", "config": {**cell["config"], "target.kind": "echo"}}
    text = render_study_markdown(document([cell, stranger]))
    assert "- cells of target kind echo are not tabulated: no such kind is registered here" in text
    assert "| scenario.batch_size | latency p50 |" in text  # the local cell keeps its table


@pytest.mark.slow
def test_a_real_local_run_as_the_study_table(tmp_path, vlmperf_env):
    quick = [
        "measure.min_runs=2",
        "measure.warmup_runs=0",
        "measure.min_duration_s=0",
        "generation.max_new_tokens=3",
        "workload.limit=3",
        "sweep.grid.scenario.batch_size=[1, 2]",
    ]
    out = tmp_path / "results"
    ran = run_cli("run", *[arg for o in quick for arg in ("--set", o)], "--out", str(out), env=vlmperf_env)
    assert ran.returncode == 0, ran.stderr
    result = run_cli("report", "latest", "--format", "study", "--out", str(out), env=vlmperf_env)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[2].startswith(
        "| scenario.batch_size | quality | wer | latency p50 | energy / sample | FLOPs / sample |"
    )
    assert [line.split(" | ")[0] for line in lines[4:6]] == ["| 1", "| 2"]
    assert all("FLOP | - | - |" in line and "cider" in line for line in lines[4:6]), "FLOPs counted, captions scored"
    assert "- no limit ratio for 2 of 2 point(s): peak FLOP/s: a CPU has no published peak" in result.stdout, (
        "no peaks given for this CPU: the table says so"
    )


def caption_reply(index: int, body: dict) -> ss.Reply:
    """One caption for an image request; a three-item list for a text request."""
    with_image = isinstance(body["messages"][0]["content"], list)
    texts = ["A photo ", "of a cat."] if with_image else ["1. A dog.\n", "2. A cat.\n", "3. A cow."]
    return ss.stream_reply(texts, 0.001, usage=(40, len(texts)))


@pytest.mark.slow
def test_the_provider_study_config_against_a_local_server(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_dummy")
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_dummy")
    out = tmp_path / "results"
    with ss.ScriptedServer(caption_reply) as server:
        outcome = vp.run(
            ROOT / "examples" / "providers.yaml", overrides=[f"target.base_url={server.base_url}"], out=out
        )
    lines = render_study_markdown(vp.report(outcome.run_id, out=out)).splitlines()
    vlm, text = lines.index("#### Vision-language models"), lines.index("#### Text models")
    assert lines[vlm + 2] == VLM_HEADER and lines[text + 2] == TEXT_HEADER
    vlm_rows, text_rows = lines[vlm + 4 : vlm + 8], lines[text + 4 : text + 8]
    assert [row.split(" | ")[:3] for row in vlm_rows] == [
        ["| `qwen_2_5_vl`", "VLM", "hyperbolic"],
        ["| `llama_4_scout`", "VLM", "novita"],
        ["| `gemma_3_27b`", "VLM", "nebius"],
        ["| `github_gpt41`", "VLM", "github-models"],
    ]
    assert all(row.split(" | ")[6] == "17 chars" for row in vlm_rows), "'A photo of a cat.'"
    assert all(row.split(" | ")[5:8] == ["3.0", "30", "29 chars"] for row in text_rows), "3 captions of 10 requests"
    assert all(row.endswith("| 10 |") for row in vlm_rows + text_rows), "10 measured requests each"
