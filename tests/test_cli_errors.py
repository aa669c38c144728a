"""Bad input, end to end through the `vlmperf` console script.

Every mistake a user can make gets exit code 2, a line starting `error:` that says what to fix,
no traceback (unless `--debug`), and leaves an existing results store exactly as it was.
Most cases fail before any model is loaded; one small real run makes the store they run against.
Most call the console script's entry point in this process (`run_cli`, read back as a subprocess
would be); a usage error, `--debug`'s traceback, a run refused for its devices and a model refused
for its code start the real console script (`vlmperf_process`).
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from contextlib import closing
from importlib import resources
from pathlib import Path

import pytest

from vlmperf import api
from vlmperf.errors import InputError
from vlmperf.workloads import sources
from vlmperf.workloads.builtin import builtin_data_folder, load_builtin_samples

from fixtures.cli import Ran, quick_args, quick_overrides, run_cli

SMALL_RUN = quick_args()
"""One timed run of one sample batch: the module's runs are small."""


def _command() -> list[str]:
    """The installed console script (what a user runs), else the module."""
    script = Path(sys.executable).with_name("vlmperf")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "vlmperf"]


@pytest.fixture(scope="module")
def env(vlmperf_env):
    # a narrow terminal: an error must stay one line however wide the console is
    return {**vlmperf_env, "COLUMNS": "60"}


def vlmperf_process(*args: str, env: dict[str, str], timeout: int = 300) -> subprocess.CompletedProcess:
    """The real console script in a new process."""
    return subprocess.run(
        [*_command(), *args], env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout
    )


def vlmperf(*args: str, env: dict[str, str]) -> Ran:
    """The console script's entry point, in this process."""
    return run_cli(*args, env=env)


def error_lines(result: subprocess.CompletedProcess | Ran) -> list[str]:
    """Assert the shape of a user error and return its `error:` lines."""
    where = f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert result.returncode == 2, where
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout, where
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines, where
    assert all(line.startswith("error: ") for line in lines), f"every line is one whole problem:\n{where}"
    return lines


def assert_says(lines: list[str], *words: str) -> None:
    text = "\n".join(lines)
    for word in words:
        assert word in text, f"{word!r} not in:\n{text}"


def snapshot(out: Path, env: dict[str, str]) -> dict:
    """What the store holds: the public JSON report of its latest run, and every row's key and status."""
    report = vlmperf("report", "latest", "--format", "json", "--out", str(out), env=env)
    assert report.returncode == 0, report.stderr
    with closing(sqlite3.connect(f"file:{out / 'vlmperf.db'}?mode=ro", uri=True)) as db:
        rows = {
            "runs": db.execute("SELECT id, status, owner FROM runs ORDER BY id").fetchall(),
            "cells": db.execute(
                "SELECT run_id, cell_id, status, finished FROM cells ORDER BY run_id, cell_id"
            ).fetchall(),
            "records": db.execute("SELECT count(*) FROM records").fetchall(),
        }
    return {"report": json.loads(report.stdout), "rows": rows}


@pytest.fixture(scope="module")
def store(tmp_path_factory, env):
    """A results folder holding one small finished run (the only real model run of this module)."""
    out = tmp_path_factory.mktemp("store")
    result = vlmperf("run", "--out", str(out), *SMALL_RUN, env=env)
    assert result.returncode == 0, result.stderr
    before = snapshot(out, env)
    assert len(before["rows"]["runs"]) == 1 and len(before["report"]["cells"]) == 1
    assert before["report"]["cells"][0]["status"] == "ok"
    return out, before


@pytest.fixture
def unchanged(store, env):
    """The store's folder; after the test, asserts nothing in the store changed."""
    out, before = store
    yield out
    assert snapshot(out, env) == before, "a failed command changed the results store"


def write(tmp_path: Path, text: str, name: str = "run.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# ---------------------------------------------------------------------------------------------
# `vlmperf run` with bad input, against a store that already holds a finished run


def test_missing_model_path(unchanged, env):
    result = vlmperf("run", "--out", str(unchanged), *SMALL_RUN, "--set", "target.model=./no/such/model", env=env)
    lines = error_lines(result)
    assert_says(lines, "./no/such/model", "config.json", "save_pretrained", "builtin:tiny-llava")


def test_config_that_does_not_parse(unchanged, env, tmp_path):
    path = write(tmp_path, "name: broken\ntarget:\n  model: [unclosed\nworkload: {}\n")
    lines = error_lines(vlmperf("run", str(path), "--out", str(unchanged), env=env))
    assert len(lines) == 1
    assert_says(lines, str(path), "not valid YAML", "line 4", "fix the syntax")


def test_config_with_an_unknown_key(unchanged, env, tmp_path):
    path = write(tmp_path, "target:\n  dtyp: fp16\n")
    lines = error_lines(vlmperf("run", str(path), "--out", str(unchanged), env=env))
    assert_says(lines, str(path), "target.dtyp", "unknown key", "dtype")


def test_missing_config_file(unchanged, env, tmp_path):
    lines = error_lines(vlmperf("run", str(tmp_path / "nope.yaml"), "--out", str(unchanged), env=env))
    assert_says(lines, "nope.yaml", "not found")


def test_batch_size_zero(unchanged, env):
    lines = error_lines(vlmperf("run", "--out", str(unchanged), "--set", "scenario.batch_size=0", env=env))
    assert lines == ["error: --set scenario.batch_size=0: scenario.batch_size: Input should be greater than 0 (got 0)"]


def test_batch_size_zero_in_a_sweep(unchanged, env):
    result = vlmperf("run", "--out", str(unchanged), "--set", "sweep.grid.scenario.batch_size=[2, 0]", env=env)
    lines = error_lines(result)
    assert_says(lines, "built-in default config", "sweep cell 2", "scenario.batch_size", "greater than 0")


@pytest.mark.slow
def test_a_run_whose_every_cell_needs_a_device_this_machine_lacks_is_refused_before_it_starts(tmp_path, env):
    """A device this machine lacks fails the cells that ask for it when their model loads (a sweep
    over devices still measures the others: tests/test_availability.py); when every cell asks for it,
    no run is made: one line, exit 2, nothing stored (an all-failed run would become `latest`)."""
    out = tmp_path / "results"
    result = vlmperf_process(
        "run", "--out", str(out), *SMALL_RUN, "--set", "sweep.grid.target.device=[cuda:7, cuda]", env=env
    )
    where = f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert result.returncode == 2, where
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout, where
    lines = error_lines(result)
    assert len(lines) == 1 and "no cell of this run can run on this machine" in lines[0], where
    # this machine has no GPU; on one with fewer than 8 the message counts the devices instead
    assert "no CUDA device" in lines[0] or "does not exist" in lines[0], where
    assert not out.exists(), "no run, no store"


def test_device_that_is_not_a_device_name(unchanged, env):
    lines = error_lines(vlmperf("run", "--out", str(unchanged), "--set", "target.device=gpu", env=env))
    assert lines == ["error: --set target.device=gpu: target.device: device must be cpu, cuda or cuda:N (got 'gpu')"]


def test_empty_dataset_is_refused_by_validation(unchanged, env):
    # an empty dataset is reachable from a config only as `limit: 0`, which validation refuses
    lines = error_lines(vlmperf("run", "--out", str(unchanged), "--set", "workload.limit=0", env=env))
    assert_says(lines, "workload.limit", "greater than 0")


def test_malformed_set(unchanged, env):
    lines = error_lines(vlmperf("run", "--out", str(unchanged), "--set", "scenario.batch_size", env=env))
    assert_says(lines, "--set", "dotted.key=value")


def test_unknown_option_is_a_usage_error(unchanged, env):
    result = vlmperf_process("run", "--out", str(unchanged), "--bogus", env=env)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and "--bogus" in result.stderr


def test_debug_shows_the_traceback(unchanged, env):
    result = vlmperf_process("--debug", "run", "--out", str(unchanged), "--set", "target.device=gpu", env=env)
    assert result.returncode != 0
    assert "Traceback" in result.stderr and "ConfigError" in result.stderr


# ---------------------------------------------------------------------------------------------
# `vlmperf report` / `vlmperf runs`


def test_report_unknown_format(unchanged, env):
    lines = error_lines(vlmperf("report", "--format", "xml", "--out", str(unchanged), env=env))
    assert lines == ["error: --format 'xml' is not known; use one of: table, md, json, csv, html, study"]


def test_report_unknown_run(unchanged, env):
    lines = error_lines(vlmperf("report", "NO_SUCH_RUN", "--out", str(unchanged), env=env))
    assert_says(lines, "NO_SUCH_RUN", "vlmperf runs")


def test_report_to_a_file_in_a_missing_folder(unchanged, env, tmp_path):
    target = tmp_path / "no" / "such" / "report.json"
    lines = error_lines(vlmperf("report", "--format", "json", "-o", str(target), "--out", str(unchanged), env=env))
    assert_says(lines, str(target), "-o")


@pytest.mark.parametrize("command", [["report"], ["report", "latest", "--format", "json"], ["runs"]])
def test_commands_on_an_empty_out_folder(tmp_path, env, command):
    out = tmp_path / "results"
    out.mkdir()
    lines = error_lines(vlmperf(*command, "--out", str(out), env=env))
    assert_says(lines, "no results store", str(out), "vlmperf run")
    assert list(out.iterdir()) == [], "reading must not create a store"


def test_report_on_a_missing_out_folder(tmp_path, env):
    out = tmp_path / "nowhere"
    error_lines(vlmperf("report", "--out", str(out), env=env))
    assert not out.exists()


# ---------------------------------------------------------------------------------------------
# images and datasets (the built-in source reads package data; user image folders arrive with the
# dataset sources, so a corrupt image is checked through the loader the run's preflight calls)


@pytest.fixture
def data_copy(tmp_path) -> Path:
    with resources.as_file(builtin_data_folder()) as folder:
        return Path(shutil.copytree(folder, tmp_path / "builtin"))


def test_corrupt_image_is_an_input_error_naming_the_file(data_copy):
    first = json.loads((data_copy / "samples.json").read_text())[0]["file"]
    (data_copy / first).write_bytes(b"this is not a JPEG")
    with pytest.raises(InputError) as caught:
        load_builtin_samples(folder=data_copy)
    assert first in str(caught.value) and "not a readable image" in str(caught.value)


def test_missing_image_is_an_input_error_naming_the_file(data_copy):
    first = json.loads((data_copy / "samples.json").read_text())[0]["file"]
    (data_copy / first).unlink()
    with pytest.raises(InputError, match=first):
        load_builtin_samples(folder=data_copy)


def test_empty_dataset_is_an_input_error(data_copy, monkeypatch):
    (data_copy / "samples.json").write_text("[]")
    monkeypatch.setitem(
        sources.SOURCES,
        "builtin",
        lambda w: sources.LoadedWorkload(load_builtin_samples(limit=w.limit, folder=data_copy)),
    )
    with pytest.raises(InputError, match="gave no usable samples"):
        sources.load_samples(sources.Workload())


def test_corrupt_image_stops_the_run_before_the_store_changes(data_copy, monkeypatch, unchanged):
    """Through the API the CLI calls: the run's preflight reads the samples before a run is created."""
    first = json.loads((data_copy / "samples.json").read_text())[0]["file"]
    (data_copy / first).write_bytes(b"\x00" * 64)
    monkeypatch.setitem(
        sources.SOURCES,
        "builtin",
        lambda w: sources.LoadedWorkload(load_builtin_samples(limit=w.limit, folder=data_copy)),
    )
    with pytest.raises(InputError, match=first):
        api.run(None, overrides=quick_overrides(), out=unchanged)


@pytest.mark.slow
def test_a_model_that_needs_its_own_code_is_refused_before_the_run_unless_trusted(tmp_path, vlmperf_env):
    """trust_remote_code is off: a model whose architecture exists only as code shipped with it fails
    before any run is created, with one line saying what to set."""
    from vlmperf.backends.local.loading import check_remote_code
    from vlmperf.backends.local.target import LocalTarget

    folder = tmp_path / "custom-vlm"
    folder.mkdir()
    config = {"model_type": "mystery-vlm", "auto_map": {"AutoConfig": "configuration_mystery.MysteryConfig"}}
    (folder / "config.json").write_text(json.dumps(config))
    out = tmp_path / "results"
    result = subprocess.run(
        [sys.executable, "-m", "vlmperf", "run", "--set", f"target.model={folder}", "--out", str(out)],
        env=vlmperf_env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and "target.trust_remote_code: true" in result.stderr
    assert not out.exists(), "no run (and no store) was created"
    check_remote_code(folder / "config.json", LocalTarget(model=str(folder), trust_remote_code=True))  # trusted: passes
    known = {"model_type": "llama", "auto_map": {"AutoModelForCausalLM": "modeling_x.X"}}
    (folder / "config.json").write_text(json.dumps(known))
    check_remote_code(folder / "config.json", LocalTarget(model=str(folder)))  # transformers has the class itself
