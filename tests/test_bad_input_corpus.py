"""A corpus of broken and hostile input, each run through the command line as a user would.

Every case must end with exit code 2 and one `error:` line per problem that says what to fix: no
traceback, no hang (each case is bounded by an alarm), nothing written (no results folder appears).
The command line runs in-process (`vlmperf.cli.entry`, what the console script calls), so the corpus
stays fast; tests/test_cli_errors.py runs a few of the same through a real subprocess.
"""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path

import pytest

from vlmperf.cli import entry

CASE_LIMIT_S = 20
"""A case that takes longer than this is a hang: no config check needs a second."""

BILLION_LAUGHS = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 10)}]\n" for i in range(8)
)

CONFIGS = {
    "duplicate top-level key": "target:\n  device: cpu\ntarget:\n  device: cuda\n",
    "duplicate nested key": "target:\n  device: cpu\n  dtype: fp32\n  device: cuda\n",
    "billion laughs": BILLION_LAUGHS,
    "recursive alias": "a: &a [*a]\n",
    "deep flow nesting": "a: " + "[" * 5000 + "]" * 5000 + "\n",
    "deep block nesting": "".join(f"{' ' * (2 * i)}k{i}:\n" for i in range(300)) + " " * 600 + "x: 1\n",
    "integer beyond 64 bits": "workload:\n  seed: 99999999999999999999999999\n",
    "integer of 5000 digits": "generation:\n  seed: " + "9" * 5000 + "\n",
    "infinite duration": "measure:\n  min_duration_s: .inf\n",
    "nan duration": "measure:\n  min_duration_s: .nan\n",
    "a million threads": "target:\n  threads: 1000000\n",
    "a billion new tokens": "generation:\n  max_new_tokens: 1000000000\n",
    "huge image size": "workload:\n  image_size: 1000000\n",
    "negative batch size": "scenario:\n  batch_size: -1\n",
    "grid explosion": "sweep:\n  grid:\n"
    + "".join(
        f"    {key}: [{', '.join(str(v) for v in range(1, 21))}]\n"
        for key in ("scenario.batch_size", "generation.seed", "workload.seed", "measure.min_runs", "workload.limit")
    ),
    "not a mapping": "- just\n- a list\n",
    "a section that is a number": "target: 3\n",
    "unknown section": "targte:\n  device: cpu\n",
    "broken syntax": "target: [cpu, \n",
    "a 200 kB value": "target:\n  model: " + "x" * 200_000 + "\n",
    "a folder name longer than the file system allows": "target:\n  model: ./" + "y" * 300 + "\n",
    "unknown device": "target:\n  device: tpu\n",
    "free-form integer beyond 64 bits": "target:\n  kind: endpoint\n  preset: openai\n  model: m\n"
    "  url: http://127.0.0.1:9/v1\n  extra_body:\n    x: 123456789012345678901234567890\n",
}

SETS = {
    "duplicate key in a --set value": "target={device: cpu, device: cuda}",
    "alias bomb in a --set value": "workload.prompt=" + BILLION_LAUGHS.replace("\n", "; "),
    "deep --set value": "workload.prompt=" + "[" * 3000 + "]" * 3000,
    "no equals sign": "scenario.batch_size",
    "a section set to a value": "target.device.x=1",
    "a big integer": "generation.seed=1" + "0" * 30,
    "a huge thread count": "target.threads=1000000",
}


class Hang(Exception):
    pass


def _alarm(_signum, _frame):
    raise Hang(f"a case took longer than {CASE_LIMIT_S} s")


def run_cli(args: list[str], capsys) -> tuple[int, str]:
    """`vlmperf ARGS` in-process: (exit code, stderr); a traceback escapes as the exception itself."""
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(CASE_LIMIT_S)
    old_argv = sys.argv
    sys.argv = ["vlmperf", *args]
    try:
        entry()
        code = 0
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
        sys.argv = old_argv
    return code, capsys.readouterr().err


def _assert_refused(code: int, stderr: str, out: Path) -> None:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert code == 2, stderr
    assert lines and all(line.startswith("error: ") for line in lines), stderr
    assert len(lines) <= 3 and all(len(line) < 1000 for line in lines), "a few short lines, never a whole value"
    assert "Traceback" not in stderr
    assert not out.exists(), "a refused command writes nothing"


@pytest.mark.parametrize("name", list(CONFIGS))
def test_a_broken_or_hostile_config_is_refused_in_one_line(name, tmp_path, capsys):
    config = tmp_path / "config.yaml"
    config.write_text(CONFIGS[name])
    out = tmp_path / "results"
    code, stderr = run_cli(["run", str(config), "--out", str(out)], capsys)
    _assert_refused(code, stderr, out)


@pytest.mark.parametrize("name", list(SETS))
def test_a_broken_or_hostile_set_value_is_refused_in_one_line(name, tmp_path, capsys):
    out = tmp_path / "results"
    code, stderr = run_cli(["run", "--set", SETS[name], "--out", str(out)], capsys)
    _assert_refused(code, stderr, out)


def test_binary_junk_as_a_config_is_refused(tmp_path, capsys):
    config = tmp_path / "config.yaml"
    config.write_bytes(bytes(range(256)) * 4)
    out = tmp_path / "results"
    _assert_refused(*run_cli(["run", str(config), "--out", str(out)], capsys), out)


PREDICTIONS = {
    "not JSON": "this is not json\n",
    "a JSON list per line": "[1, 2, 3]\n",
    "no id": json.dumps({"prediction": "a cat", "answers": ["cat"]}) + "\n",
    "an over-long prediction": json.dumps({"id": "1", "prediction": "x" * 50_000, "answers": ["x"]}) + "\n",
    "a prediction that is a number": json.dumps({"id": "1", "prediction": 3, "answers": ["3"]}) + "\n",
    "empty file": "",
}


@pytest.mark.parametrize("name", list(PREDICTIONS))
def test_a_broken_predictions_file_is_refused_in_one_line(name, tmp_path, capsys):
    predictions = tmp_path / "predictions.jsonl"
    predictions.write_text(PREDICTIONS[name])
    out = tmp_path / "results"
    code, stderr = run_cli(["score", "--task", "vqa", "--predictions", str(predictions), "--out", str(out)], capsys)
    _assert_refused(code, stderr, out)


DATASET_FILES = {
    "a line that is not JSON": '{"id": "1", "image": "a.png"}\nnot json at all\n',
    "a line that is a list": "[1, 2]\n",
    "no rows": "\n\n",
    "every image outside the dataset's folder": "".join(
        f'{{"id": "{i}", "image": "../../../../etc/passwd", "question": "q?", "answers": ["a"]}}\n' for i in range(3)
    ),
    "binary junk": "\x00\x01\x02\xff",
}


@pytest.mark.parametrize("name", list(DATASET_FILES))
def test_a_broken_or_hostile_dataset_file_is_refused_in_one_line(name, tmp_path, capsys):
    data = tmp_path / "data" / "set.jsonl"
    data.parent.mkdir()
    data.write_text(DATASET_FILES[name], encoding="utf-8", errors="surrogateescape")
    out = tmp_path / "results"
    args = [
        "run",
        "--set",
        "workload.task=vqa",
        "--set",
        "workload.source=dataset",
        "--set",
        f"workload.dataset={{kind: jsonl, path: '{data}'}}",
        "--out",
        str(out),
    ]
    _assert_refused(*run_cli(args, capsys), out)
