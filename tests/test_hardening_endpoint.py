"""Issue 16's endpoint hardening: a cell whose requests fail is `failed` with the error classes and
counts (its figures kept), a scoring failure never leaves a cell `running`, and `vlmperf score`
bounds a prediction's length and reports any failure of Java's programs on one line."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

import vlmperf.api as vp
from vlmperf.backends.endpoint.group import request_failure
from vlmperf.scoring import java as java_check
from vlmperf.scoring.java import JavaError
from vlmperf.scoring.predictions import MAX_PREDICTION_CHARS

from fixtures import scripted_server as ss


def _config(
    tmp_path: Path, server: ss.ScriptedServer, *, task: str = "vqa", measure: str = "", sweep: str = ""
) -> Path:
    path = tmp_path / "endpoint.yaml"
    path.write_text(
        f"target: {{kind: endpoint, preset: vllm, base_url: '{server.base_url}', model: tiny}}\n"
        f"workload: {{task: {task}, limit: 3}}\nscenario: {{kind: single-stream}}\n"
        f"measure: {{min_runs: 12, warmup_runs: 0{measure}}}\n{sweep}"
    )
    return path


def _cells(outcome, out: Path) -> list[dict]:
    return vp.report(outcome.run_id, out=out)["cells"]


@pytest.mark.slow
def test_every_request_failing_fails_the_cell_and_the_cli_exits_1(tmp_path, vlmperf_env):
    out = tmp_path / "results"
    with ss.ScriptedServer([ss.error_reply(500, "the model is down")]) as server:
        command = [sys.executable, "-m", "vlmperf", "run", str(_config(tmp_path, server)), "--out", str(out)]
        done = subprocess.run(
            command, check=False, env=vlmperf_env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120
        )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert "1 of 1 cells failed" in done.stderr
    document = json.loads(
        subprocess.run(
            [sys.executable, "-m", "vlmperf", "report", "latest", "--out", str(out), "--format", "json"],
            env=vlmperf_env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout
    )
    (cell,) = document["cells"]
    assert cell["status"] == "failed" and cell["error"]["type"] == "RequestsFailed"
    assert cell["error"]["message"].startswith("every request failed: 10 http_5xx;")
    assert "the model is down" in cell["error"]["message"], "the first error's message is quoted"
    assert cell["metrics"]["error_rate"] == {"value": 1.0, "by_class": {"http_5xx": 10}}, "the figures are kept"
    assert cell["info"]["failed_at"] == "measure" and cell["info"]["requests"] == 10
    assert "the cell failed" in cell["info"]["quality"]["not_scored"]


def test_an_error_rate_past_max_error_rate_fails_the_cell_and_resume_measures_it_again(tmp_path):
    out = tmp_path / "results"
    healthy = []

    def mostly_failing(index: int, body: dict) -> ss.Reply:
        ok = healthy or index % 4 == 0
        return ss.stream_reply(["yes"], 0.001) if ok else ss.error_reply(503, "overloaded")

    with ss.ScriptedServer(mostly_failing) as server:
        config = _config(tmp_path, server, measure=", max_error_rate: 0.2")
        outcome = vp.run(config, out=out)
        assert outcome.failed == 1
        (cell,) = _cells(outcome, out)
        assert cell["status"] == "failed"
        rate = cell["metrics"]["error_rate"]
        assert rate["by_class"] == {"http_5xx": 7} and rate["value"] == pytest.approx(0.7)
        assert cell["error"]["message"].startswith("error rate 0.70 passed measure.max_error_rate 0.2: 7 http_5xx;")
        assert cell["metrics"]["e2e_s"]["n"] == 3, "the requests that succeeded keep their latency"
        healthy.append(True)
        again = vp.run(config, out=out, resume=True)
    assert (again.run_id, again.failed) == (outcome.run_id, 0)
    (cell,) = _cells(again, out)
    assert cell["status"] == "ok" and cell["error"] is None and cell["metrics"]["error_rate"]["value"] == 0


def test_request_failure_names_classes_counts_and_a_hint():
    def record(kind: str | None) -> dict:
        return {"error": None if kind is None else {"class": kind, "message": "refused\nsecond line"}}

    every = request_failure([record("connect")] * 12 + [record("first_byte_timeout")] * 3, None, 0.5)
    assert every == (
        "every request failed: 12 connect, 3 first_byte_timeout; check the endpoint's URL and that the server is up "
        "(first connect: refused second line)"
    )
    assert request_failure([record(None)] * 3 + [record("http_4xx")], None, 0.5) is None
    assert request_failure([record(None)] * 3 + [record("http_4xx")] * 2, None, 0.2).startswith(
        "error rate 0.40 passed measure.max_error_rate 0.2: 2 http_4xx; "
        "check the endpoint's URL, model name and API key"
    )
    stopped = "stopped early: 6 of 10 requests failed, past max_error_rate 0.5"
    assert request_failure([record(None)] * 6 + [record("http_5xx")] * 6, stopped, 0.5).startswith(
        stopped + ": 6 http_5xx"
    )
    assert request_failure([], None, 0.5) == "no request was measured; check the endpoint's URL and key"


TWO_TARGETS = "sweep: {cells: [{target.model: first}, {target.model: second}]}\n"


def test_java_failing_while_scoring_an_endpoint_run_leaves_the_speed_figures_and_no_cell_running(tmp_path, monkeypatch):
    from vlmperf.scoring.by_task import ScoringSession

    def java_died(self):
        raise JavaError("METEOR (Java) stopped answering (exit code 1); its metrics could not be computed")

    monkeypatch.setattr(ScoringSession, "captions", java_died)
    out = tmp_path / "results"
    with ss.ScriptedServer([ss.stream_reply(["a dog"], 0.001)]) as server:
        outcome = vp.run(_config(tmp_path, server, task="caption", sweep=TWO_TARGETS), out=out)
    assert (outcome.cells, outcome.failed) == (2, 0)
    for cell in _cells(outcome, out):
        assert cell["status"] == "ok" and cell["metrics"]["e2e_s"]["n"] == 12
        assert "METEOR (Java) stopped answering" in cell["info"]["quality"]["not_scored"]


def test_an_unexpected_scoring_error_fails_that_cell_only(tmp_path, monkeypatch):
    from vlmperf.runner.quality import RunQuality

    real_score, calls = RunQuality.score, []

    def score(self, task, records, samples, where):
        calls.append(where)
        if len(calls) == 1:
            raise RuntimeError("scoring broke")
        return real_score(self, task, records, samples, where)

    monkeypatch.setattr(RunQuality, "score", score)
    out = tmp_path / "results"
    with ss.ScriptedServer([ss.stream_reply(["yes"], 0.001)]) as server:
        outcome = vp.run(_config(tmp_path, server, sweep=TWO_TARGETS), out=out)
    assert (outcome.cells, outcome.failed) == (2, 1)
    first, second = _cells(outcome, out)
    assert first["status"] == "failed" and first["info"]["failed_at"] == "summary"
    assert first["error"]["type"] == "RuntimeError" and first["error"]["message"] == "scoring broke"
    assert second["status"] == "ok" and "vqa_accuracy" in second["metrics"]


# vlmperf score -------------------------------------------------------------------------------


def _score(predictions: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "vlmperf", "score", "--task", "caption", "--predictions", str(predictions)]
    return subprocess.run(
        command, check=False, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=180
    )


def _one_error_line(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    (line,) = [line for line in done.stderr.splitlines() if line.strip()]
    assert line.startswith("error: ")
    return line


def _predictions(tmp_path: Path, *captions: str) -> Path:
    path = tmp_path / "predictions.jsonl"
    path.write_text(
        "".join(
            json.dumps({"id": str(i), "prediction": caption, "references": ["a dog on the grass", "a brown dog"]})
            + "\n"
            for i, caption in enumerate(captions)
        )
    )
    return path


def test_score_refuses_an_over_long_prediction_naming_its_line(tmp_path, vlmperf_env):
    path = _predictions(tmp_path, "a dog", "word " * (MAX_PREDICTION_CHARS // 5 + 1))
    line = _one_error_line(_score(path, vlmperf_env))
    assert f"{path}, line 2:" in line and "10,005 characters, more than the 10,000" in line


def _fake_java(tmp_path: Path, body: str) -> dict[str, str]:
    """A `java` first on PATH that answers `-version` and otherwise runs `body` (a shell script)."""
    folder = tmp_path / "bin"
    folder.mkdir()
    fake = folder / "java"
    fake.write_text(
        f'#!/bin/sh\nif [ "$1" = "-version" ]; then echo \'openjdk version "17"\' >&2; exit 0; fi\n{body}\n'
    )
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    return {"PATH": f"{folder}{os.pathsep}{os.environ.get('PATH', '')}"}


def test_score_says_on_one_line_that_java_failed(tmp_path, vlmperf_env):
    env = {**vlmperf_env, **_fake_java(tmp_path, "echo 'Error: broken runtime' >&2\necho 'second line' >&2\nexit 1")}
    line = _one_error_line(_score(_predictions(tmp_path, "a dog", "a cat"), env))
    assert "(Java) failed (exit code 1; stderr: Error: broken runtime | second line)" in line


@pytest.mark.skipif(java_check.java_executable() is None, reason="needs a Java runtime (java on PATH)")
def test_score_says_on_one_line_that_meteor_ran_out_of_memory(tmp_path, vlmperf_env):
    real = shutil.which("java")
    body = (  # the PTB tokenizer runs on the real java; METEOR (`-jar`) dies as out of memory
        'if [ "$1" = "-jar" ]; then\n'
        "  echo 'Exception in thread \"main\" java.lang.OutOfMemoryError: Java heap space' >&2\n"
        "  echo '\tat edu.cmu.meteor.aligner.Aligner.align(Unknown Source)' >&2\n  exit 1\nfi\n"
        f'exec "{real}" "$@"'
    )
    env = {**vlmperf_env, **_fake_java(tmp_path, body)}
    line = _one_error_line(_score(_predictions(tmp_path, "a dog", "a cat"), env))
    assert "METEOR (Java) stopped answering (exit code 1; out of memory" in line
