"""Endpoint runs end to end against the scripted server: the provider study's config, keys, load
scenarios and early stops, all on loopback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import vlmperf.api as vp
from vlmperf.backends.endpoint.load.arrivals import deadlines
from vlmperf.errors import ConfigError
from vlmperf.workloads.builtin import load_builtin_samples

from fixtures import scripted_server as ss
from fixtures.summary_shapes import assert_declared

ROOT = Path(__file__).resolve().parents[1]
HF_KEY, GITHUB_KEY = "hf_dummy_key_never_stored_1234", "ghp_dummy_key_never_stored_5678"


@pytest.fixture
def keys(monkeypatch):
    monkeypatch.setenv("HF_TOKEN", HF_KEY)
    monkeypatch.setenv("GITHUB_TOKEN", GITHUB_KEY)


def provider_reply(index: int, body: dict) -> ss.Reply:
    """Captions for image requests, a three-item list for text requests; the router's provider header."""
    model = body["model"]
    headers = {"x-inference-provider": model.split(":", 1)[1]} if ":" in model else {}
    content = body["messages"][0]["content"]
    texts = ["A photo ", "of something."] if isinstance(content, list) else ["1. A dog.\n", "2. A cat.\n", "3. A cow."]
    return ss.stream_reply(texts, 0.001, usage=(40, len(texts)), headers=headers)


@pytest.mark.slow
def test_the_provider_study_runs_against_a_local_server(keys, tmp_path):
    out = tmp_path / "results"
    with ss.ScriptedServer(provider_reply) as server:
        outcome = vp.run(
            ROOT / "examples" / "providers.yaml", overrides=[f"target.base_url={server.base_url}"], out=out
        )
        served = server.requests
    assert (outcome.cells, outcome.failed) == (8, 0)
    document = vp.report(outcome.run_id, out=out)
    assert {cell["config"]["target.label"] for cell in document["cells"]} >= {"qwen_2_5_vl", "github_gpt41"}
    pixels = sum(s.images[0].width * s.images[0].height for s in load_builtin_samples())
    for cell in document["cells"]:
        metrics = cell["metrics"]
        assert cell["status"] == "ok" and metrics["requests"]["value"] == 10 and metrics["error_rate"]["value"] == 0
        assert {"ttft_s", "e2e_s", "itl_s", "output_chars", "request_sent_s"} <= set(metrics)
        if cell["config"]["workload.task"] == "text":
            assert metrics["captions_per_request"]["mean"] == 3 and metrics["total_captions"]["value"] == 30
            assert metrics["image_bytes"]["max"] == 0
        else:
            assert metrics["image_pixels"]["mean"] * 10 == pytest.approx(pixels)
            assert metrics["image_bytes"]["min"] > 0
        assert_declared(metrics, cell["id"])
        provider = cell["config"]["target.provider"]
        if provider:
            assert metrics["served_by"] == {"value": {provider: 10}, "source": "header"}
    # one request at a time, round robin over the four targets of each group, after the warm-ups
    measured = [r.body["model"] for r in served if r.index not in (0, 1, 2, 3, 44, 45, 46, 47)]
    assert measured[:8] == measured[:4] * 2 and len(set(measured[:4])) == 4
    auth = {r.headers["Authorization"] for r in served}
    assert auth == {f"Bearer {HF_KEY}", f"Bearer {GITHUB_KEY}"}
    stored = b"".join(p.read_bytes() for p in out.rglob("*") if p.is_file())
    assert HF_KEY.encode() not in stored and GITHUB_KEY.encode() not in stored, "keys are never stored"


def test_a_missing_key_fails_before_anything_is_sent(monkeypatch, tmp_path):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("GITHUB_TOKEN", GITHUB_KEY)
    with ss.ScriptedServer(provider_reply) as server:
        with pytest.raises(ConfigError, match=r"\$HF_TOKEN, which is not set: export HF_TOKEN="):
            vp.run(ROOT / "examples" / "providers.yaml", overrides=[f"target.base_url={server.base_url}"], out=tmp_path)
        assert server.requests == []
    assert not list(tmp_path.iterdir()), "no run was created"


def _config(
    tmp_path: Path, server: ss.ScriptedServer, scenario: str, measure: str = "{min_runs: 12, warmup_runs: 0}"
) -> Path:
    path = tmp_path / "endpoint.yaml"
    path.write_text(
        f"target: {{kind: endpoint, preset: vllm, base_url: '{server.base_url}', model: tiny}}\n"
        f"workload: {{task: vqa, limit: 3}}\nscenario: {scenario}\nmeasure: {measure}\n"
    )
    return path


def _records(outcome, out):
    frame = vp.records_frame(outcome.run_id, out=out)
    return frame.sort_values("seq").to_dict("records")


def test_a_constant_rate_sends_on_schedule_and_never_early(tmp_path):
    out = tmp_path / "results"
    with ss.ScriptedServer([ss.stream_reply(["a", "b"], 0.001)]) as server:
        outcome = vp.run(_config(tmp_path, server, "{kind: rate, rate: 50}"), out=out)
    records = _records(outcome, out)
    assert [r["scheduled_s"] for r in records] == pytest.approx([i / 50 for i in range(12)], abs=1e-6)
    assert all(r["started_s"] >= r["scheduled_s"] for r in records)
    (cell,) = vp.report(outcome.run_id, out=out)["cells"]
    assert cell["metrics"]["offered_rate"]["value"] == 50
    assert cell["metrics"]["scheduler_lateness_s"]["n"] == 12
    assert_declared(cell["metrics"], "the stored endpoint cell")


def test_poisson_arrivals_are_seeded_and_have_the_rate():
    first = deadlines(0, 200.0, "poisson", seed=3)
    again = deadlines(0, 200.0, "poisson", seed=3)
    times = [next(first) for _ in range(20_001)]
    assert times[:50] == [next(again) for _ in range(50)]
    assert times[-1] / 20_000 == pytest.approx(1e9 / 200.0, rel=0.03)


def _max_overlap(served: list[ss.ServedRequest]) -> int:
    edges = sorted([(r.received_ns, 1) for r in served] + [(r.ended_ns, -1) for r in served])
    level = peak = 0
    for _, step in edges:
        level += step
        peak = max(peak, level)
    return peak


def test_concurrent_keeps_exactly_n_in_flight(tmp_path):
    out = tmp_path / "results"
    with ss.ScriptedServer([ss.stream_reply(["a", "b"], 0.02)]) as server:
        outcome = vp.run(_config(tmp_path, server, "{kind: concurrent, concurrency: 3}"), out=out)
        served = server.wait_finished(12)
    assert _max_overlap(served) == 3
    assert max(r["in_flight"] for r in _records(outcome, out)) == 3


def test_a_concurrent_warm_up_goes_out_at_the_concurrency_and_opens_its_connections(tmp_path):
    out = tmp_path / "results"
    with ss.ScriptedServer([ss.stream_reply(["a", "b"], 0.03)]) as server:
        vp.run(
            _config(tmp_path, server, "{kind: concurrent, concurrency: 3}", "{min_runs: 6, warmup_runs: 3}"), out=out
        )
        served = server.wait_finished(9)
    warm = [r for r in served if "/warmup-" in r.headers["X-Request-Id"]]
    assert len(warm) == 3 and _max_overlap(warm) == 3


def test_a_stored_run_matches_the_servers_log_and_any_preset_reads_the_provider_header(tmp_path):
    out = tmp_path / "results"
    reply = ss.stream_reply(["a", "b"], 0.001, usage=(20, 2), headers={"x-inference-provider": "gateway-7"})
    with ss.ScriptedServer([reply]) as server:
        outcome = vp.run(_config(tmp_path, server, "{kind: single-stream}", "{min_runs: 4, warmup_runs: 1}"), out=out)
        served = server.wait_finished(5)
    (cell,) = vp.report(outcome.run_id, out=out)["cells"]
    records = _records(outcome, out)
    prefix = f"{outcome.run_id}/{cell['id']}"
    sent = [f"{prefix}/warmup-0"] + [f"{prefix}/{seq}" for seq in range(4)]
    assert [r.headers["X-Request-Id"] for r in served] == sent
    assert [r["request_id"] for r in records] == sent[1:] and {r["response_id"] for r in records} == {ss.CHUNK_ID}
    assert {(r["served_by"], r["served_by_source"]) for r in records} == {("gateway-7", "header")}  # preset vllm
    stable = cell["stability"]  # the loopback server's CPU time is what is measured, never contention
    assert stable["metric"] == "e2e_s" and stable["n"] == 4 and "this machine" in stable["contention_not_counted"]
    assert "contended" not in stable["flags"] and stable["contention"]["windows"] == 1
    clock = cell["info"]["clock"]
    for r in records:  # the wall-clock start is the monotonic one through the cell's anchor
        assert r["started_unix_ns"] == pytest.approx(clock["epoch_unix_ns"] + r["started_s"] * 1e9, abs=1_000)
    assert [round(r.received_ns - clock["epoch_perf_counter_ns"]) > 0 for r in served[1:]] == [True] * 4


@pytest.mark.slow
def test_a_concurrency_cap_holds_an_open_loop_back_and_its_lateness_shows(tmp_path):
    out = tmp_path / "results"
    with ss.ScriptedServer([ss.stream_reply(["a", "b"], 0.05)]) as server:
        outcome = vp.run(_config(tmp_path, server, "{kind: rate, rate: 100, concurrency: 2}"), out=out)
        served = server.wait_finished(12)
    assert _max_overlap(served) <= 2
    records = _records(outcome, out)
    assert max(r["started_s"] - r["scheduled_s"] for r in records) > 0.05, "waiting for a slot is lateness"


def test_a_cell_stops_early_when_most_requests_fail(tmp_path):
    out = tmp_path / "results"
    with ss.ScriptedServer([ss.error_reply(500, "down")]) as server:
        outcome = vp.run(_config(tmp_path, server, "{kind: single-stream}", "{min_runs: 40, warmup_runs: 0}"), out=out)
    (cell,) = vp.report(outcome.run_id, out=out)["cells"]
    assert cell["status"] == "failed" and outcome.failed == 1, "a cell none of whose requests succeeded failed"
    assert cell["metrics"]["error_rate"] == {"value": 1.0, "by_class": {"http_5xx": 10}}
    assert "stopped early: 10 of 10 requests failed" in cell["info"]["stopped_early"]
    assert "e2e_s" not in cell["metrics"], "failed requests have no latency"
    assert_declared(cell["metrics"], "the stored failed endpoint cell")


def test_an_endpoint_run_imports_neither_torch_nor_transformers(tmp_path):
    with ss.ScriptedServer([ss.stream_reply(["a"], 0.001)]) as server:
        config = _config(tmp_path, server, "{kind: single-stream}", "{min_runs: 2, warmup_runs: 0}")
        script = (
            "import sys, vlmperf.api as vp\n"
            f"vp.run({str(config)!r}, out={str(tmp_path / 'out')!r})\n"
            "assert 'torch' not in sys.modules and 'transformers' not in sys.modules, 'heavy import'\n"
        )
        subprocess.run([sys.executable, "-c", script], check=True, timeout=120)


@pytest.mark.slow
def test_ctrl_c_stops_sending_lets_requests_in_flight_finish_and_leaves_a_partial_run(tmp_path, vlmperf_env):
    import json
    import signal
    import time

    out = tmp_path / "results"
    with ss.ScriptedServer([ss.stream_reply(["a", "b", "c"], 0.3)]) as server:
        config = _config(tmp_path, server, "{kind: concurrent, concurrency: 2}", "{min_runs: 500, warmup_runs: 0}")
        command = [sys.executable, "-m", "vlmperf", "run", str(config), "--out", str(out)]
        process = subprocess.Popen(
            command, env=vlmperf_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        deadline = time.monotonic() + 60
        while len(server.requests) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=30)
        served = server.wait_finished(len(server.requests))
    assert process.returncode == 130, output
    assert "stored as partial" in output
    assert all(r.ended == "complete" for r in served), "requests in flight were allowed to finish"
    report = subprocess.run(
        [sys.executable, "-m", "vlmperf", "report", "latest", "--out", str(out), "--format", "json"],
        env=vlmperf_env,
        capture_output=True,
        text=True,
        check=True,
    )
    document = json.loads(report.stdout)
    assert document["run"]["status"] == "partial"
    (cell,) = document["cells"]
    assert cell["status"] == "failed" and cell["error"]["type"] == "Interrupted"
    assert len(vp.records_frame(document["run"]["id"], out=out)) == len(served), "every finished request is kept"
