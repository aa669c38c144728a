"""A run killed with SIGKILL mid-sweep resumes: every cell exactly once, nothing finished lost.

The run that is killed (or interrupted) is a real `vlmperf` process; the resume and the report after
it call the console script's entry point in this process.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from fixtures.cli import run_cli

CONFIG = """
name: resume-test
generation: {max_new_tokens: 4, mode: fixed}
measure: {warmup_runs: 0, min_runs: 2, min_duration_s: 1.5}
sweep:
  grid:
    scenario.batch_size: [1, 2, 3, 4]
"""


def _cells(db):
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT run_id, cell_id, status, finished, summary FROM cells ORDER BY position").fetchall()


def _wait_for(predicate, timeout_s):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def _kill_when(proc, predicate, never: str) -> None:
    """SIGKILL the run once `predicate` holds (fail with `never` if it does not within 120 s)."""
    try:
        assert _wait_for(predicate, 120), never
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()


def _start_sweep(tmp_path, **pipes):
    """Start the four-cell sweep in a subprocess; returns (process, config, out folder, db, env)."""
    config = tmp_path / "sweep.yaml"
    config.write_text(CONFIG)
    out = tmp_path / "results"
    env = {**os.environ, "VLMPERF_CACHE": str(tmp_path / "cache")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "vlmperf", "run", str(config), "--out", str(out)],
        env=env,
        stdin=subprocess.DEVNULL,
        **pipes,
    )
    return proc, config, out, out / "vlmperf.db", env


@pytest.mark.slow
def test_sigkill_then_resume_finishes_every_cell_exactly_once(tmp_path):
    proc, config, out, db, env = _start_sweep(tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def one_done_one_running():
        if not db.exists():
            return False
        try:
            statuses = [c[2] for c in _cells(db)]
        except sqlite3.Error:
            return False
        return statuses.count("ok") >= 1 and "running" in statuses

    _kill_when(proc, one_done_one_running, "the run never reached a finished cell and a running one")

    before = _cells(db)
    finished_before = {c[1]: (c[3], c[4]) for c in before if c[2] == "ok"}
    assert 1 <= len(finished_before) < 4
    assert any(c[2] == "running" for c in before)

    resumed = run_cli("run", str(config), "--out", str(out), "--resume", env=env)
    assert resumed.returncode == 0, resumed.stderr
    assert "already finished" in resumed.stderr

    after = _cells(db)
    assert len({c[0] for c in after}) == 1, "resume continued the same run"
    assert len(after) == 4 and len({c[1] for c in after}) == 4, "every cell exactly once"
    assert all(c[2] == "ok" for c in after)
    for cell_id, (finished, summary) in finished_before.items():
        match = next(c for c in after if c[1] == cell_id)
        assert (match[3], match[4]) == (finished, summary), "a finished cell was measured again"
    with sqlite3.connect(db) as conn:
        runs = conn.execute("SELECT status FROM runs").fetchall()
        seqs = conn.execute("SELECT cell_id, group_concat(seq) FROM records GROUP BY cell_id").fetchall()
    assert runs == [("complete",)]
    for cell_id, joined in seqs:
        numbers = sorted(int(n) for n in joined.split(","))
        assert numbers == list(range(len(numbers))), f"cell {cell_id} has records of more than one attempt"


@pytest.mark.slow
def test_ctrl_c_leaves_a_valid_report_marked_partial(tmp_path):
    proc, _, out, db, env = _start_sweep(tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def first_cell_done():
        try:
            return db.exists() and any(c[2] == "ok" for c in _cells(db))
        except sqlite3.Error:
            return False

    try:
        assert _wait_for(first_cell_done, 120)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130
    assert "partial" in stderr and "Traceback" not in stderr
    report = run_cli("report", "--format", "json", "--out", str(out), env=env)
    assert report.returncode == 0, report.stderr
    document = json.loads(report.stdout)
    assert document["run"]["status"] == "partial"
    assert document["cells"], "finished cells are in the report"
    assert all(c["status"] in ("ok", "failed") for c in document["cells"])


ENDPOINT_CONFIG = """
name: resume-endpoint
target: {{kind: endpoint, preset: vllm, base_url: '{base_url}', model: tiny}}
workload: {{task: vqa, limit: 3}}
scenario: {{kind: concurrent, concurrency: 1}}
measure: {{warmup_runs: 0, min_runs: 10, min_duration_s: 2.0}}
sweep:
  grid:
    scenario.concurrency: [1, 2, 3]
"""


def _stored_records(db, cell_id):
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT count(*) FROM records WHERE cell_id = ?", (cell_id,)).fetchone()[0]


@pytest.mark.slow
def test_sigkill_mid_endpoint_load_loses_nothing_finished(tmp_path):
    """Records reach the store from the writer thread while the load runs; a kill loses only the
    running cell's unbatched tail, and a finished cell has every record its summary counts."""
    from fixtures import scripted_server as ss

    with ss.ScriptedServer([ss.stream_reply(["a", "b"], 0.005)]) as server:
        config = tmp_path / "endpoint.yaml"
        config.write_text(ENDPOINT_CONFIG.format(base_url=server.base_url))
        out = tmp_path / "results"
        db = out / "vlmperf.db"
        env = {**os.environ, "VLMPERF_CACHE": str(tmp_path / "cache")}
        proc = subprocess.Popen(
            [sys.executable, "-m", "vlmperf", "run", str(config), "--out", str(out)],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

        def one_done_one_storing():
            try:
                cells = _cells(db) if db.exists() else []
                running = [c[1] for c in cells if c[2] == "running"]
                return any(c[2] == "ok" for c in cells) and running and _stored_records(db, running[0]) > 0
            except sqlite3.Error:
                return False

        _kill_when(proc, one_done_one_storing, "no finished cell beside a running one with stored records")
        before = _cells(db)
        for _, cell_id, status, _, summary in before:
            if status == "ok":
                assert _stored_records(db, cell_id) == json.loads(summary)["requests"]["value"] > 0

        resumed = run_cli("run", str(config), "--out", str(out), "--resume", env=env)
    assert resumed.returncode == 0, resumed.stderr
    after = _cells(db)
    assert len(after) == 3 and all(c[2] == "ok" for c in after)
    for _, cell_id, _, _, summary in after:
        assert _stored_records(db, cell_id) == json.loads(summary)["requests"]["value"], "one attempt's records"
    finished_before = {c[1]: (c[3], c[4]) for c in before if c[2] == "ok"}
    assert all((c[3], c[4]) == finished_before[c[1]] for c in after if c[1] in finished_before)
