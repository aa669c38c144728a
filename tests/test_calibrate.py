"""`vlmperf calibrate`: the client's floor and rate steps against the instant loopback server."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from vlmperf.backends.endpoint.load.calibrate import calibrate


@pytest.mark.slow
def test_calibration_reports_a_floor_and_rate_steps():
    result = calibrate(duration_s=0.3, rates=(40, 80))
    floor = result["floor"]
    assert floor["requests"] == 200 and 0 < floor["e2e_s"]["p50"] < 0.1
    first = result["steps"][0]
    assert first["requests"] == 12 and first["error_rate"] == 0
    assert first["sent_rate"] == pytest.approx(40, rel=0.1), "sends follow the schedule"
    assert first["scheduler_lateness_s"]["p50"] >= 0
    assert result["max_rate"] in (None, 40, 80)
    assert result["max_rate"] is None or all(
        s["holds"] for s in result["steps"] if s["offered_rate"] <= result["max_rate"]
    )


def test_the_instant_server_answers_a_stream_and_a_json_body():
    from vlmperf.backends.endpoint.load.instant_server import BODY, STREAM

    assert STREAM.endswith(b"data: [DONE]\n\n") and STREAM.count(b"data: ") == 5
    assert json.loads(BODY)["usage"]["completion_tokens"] == 3


@pytest.mark.slow
def test_calibrate_command_prints_json(vlmperf_env):
    done = subprocess.run(
        [sys.executable, "-m", "vlmperf", "calibrate", "--duration", "0.1", "--format", "json"],
        env=vlmperf_env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert {"floor", "steps", "max_rate", "criteria"} <= set(result)
