"""`vlmperf score`: a predictions file per task, bad input, and re-scoring a stored run.

The figures must be exactly what the scoring functions give on the same inputs; the command
only reads, checks and passes data. CLI paths go through the console script's entry point, in this
process (`run_cli`); the output file and an unknown run go through the real console script too.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from vlmperf.errors import InputError
from vlmperf.scoring import java as java_check
from vlmperf.scoring.by_task import SCORING, any_answer_match, get_scoring
from vlmperf.scoring.captions import CaptionScorer
from vlmperf.scoring.mcq import mcq_accuracy
from vlmperf.scoring.result import MetricResult
from vlmperf.scoring.score_command import metrics_document, render_table, score_file
from vlmperf.scoring.text_error import char_error_rate, word_error_rate
from vlmperf.scoring.textvqa import process_answer, textvqa_accuracy
from vlmperf.scoring.vqa import normalize_answer, vqa_accuracy

from fixtures.cli import Ran, run_cli

needs_java = pytest.mark.skipif(java_check.java_executable() is None, reason="needs a Java runtime (java on PATH)")

SMALL_RUN = [
    "--set", "measure.min_runs=1",
    "--set", "measure.warmup_runs=0",
    "--set", "measure.min_duration_s=0",
    "--set", "generation.max_new_tokens=4",
    "--set", "sweep.grid.scenario.batch_size=[2]",
    "--set", "sweep.grid.workload.task=[caption,vqa]",
    "--set", "scoring.normalised_text_errors=true",
]  # fmt: skip


def _command() -> list[str]:
    """The installed console script (what a user runs), else the module."""
    script = Path(sys.executable).with_name("vlmperf")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "vlmperf"]


def vlmperf(*args: str, env: dict[str, str], timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*_command(), *args],
        check=False,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def error_line(result: subprocess.CompletedProcess | Ran) -> str:
    """Assert a user error (exit 2, exactly one `error:` line, no traceback) and return the line."""
    where = f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert result.returncode == 2, where
    assert "Traceback" not in result.stderr + result.stdout, where
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), where
    return lines[0]


def write_jsonl(path: Path, entries: list[Any]) -> Path:
    path.write_text("".join((e if isinstance(e, str) else json.dumps(e)) + "\n" for e in entries), encoding="utf-8")
    return path


def expected(task: str, results: dict[str, MetricResult], ids: list[str], per_sample: bool = False) -> dict[str, Any]:
    """The document the command must print for `results` computed directly on `ids`."""
    return json.loads(json.dumps(metrics_document(task, ids, results, per_sample=per_sample)))


def vqa_direct(task: str, predictions: dict[str, str], answers: dict[str, list[str]]) -> dict[str, MetricResult]:
    """What each VQA task must report: its own reference rule, and any_answer_match under its normalisation."""
    if task == "textvqa":
        return {
            "vqa_accuracy": textvqa_accuracy(predictions, answers),
            "any_answer_match": any_answer_match(predictions, answers, process_answer, "textvqa"),
        }
    return {
        "vqa_accuracy": vqa_accuracy(predictions, answers),
        "any_answer_match": any_answer_match(predictions, answers, normalize_answer, "vqav2"),
    }


# test data: each task with enough samples (>= 5) for a bootstrap interval ------------------------

VQA_PREDICTIONS = {"q1": "Two", "q2": "red", "q3": "a dog", "q4": "", "q5": "3.5", "q6": "yes"}
VQA_ANSWERS = {
    "q1": ["2"] * 9 + ["3"],
    "q2": ["blue"] * 8 + ["red", "red"],
    "q3": ["dog"] * 10,
    "q4": ["nothing"] * 10,
    "q5": ["3.5"] * 4 + ["three and a half"] * 6,
    "q6": ["yes", "no"] * 5,
}
MCQ = {  # id: (prediction, choices, answer)
    "m1": ("B", ["red", "blue"], 1),
    "m2": ("The answer is A.", ["cat", "dog", "bird"], 0),
    "m3": ("blue", ["red", "blue", "green"], 2),
    "m4": ("no idea", ["x", "y"], 0),
    "m5": ("(C)", ["a", "b", "c", "d"], 2),
}
TEXT = {  # id: (prediction, reference)
    "t1": ("a dog runs on the beach", "A dog running on the beach."),
    "t2": ("two cats", "Two cats sleep on a sofa"),
    "t3": ("", "empty prediction"),
    "t4": ("hello world", "hello world"),
    "t5": ("the quick brown fox", "the quick brown fox jumps"),
}
CAPTIONS = {
    "c1": ("A man riding a wave on top of a surfboard.", ["A surfer riding a wave.", "a man surfing in the ocean"]),
    "c2": ("Two dogs play with a frisbee in the park", ["Two dogs playing in a park.", "dogs and a frisbee"]),
    "c3": ("A red bus on the street.", ["A red double decker bus.", "a bus driving down a city street"]),
    "c4": ("pizza", ["A pizza on a plate.", "a cheese pizza"]),
    "c5": ("A kitchen with a stove and a sink.", ["A kitchen with a stove.", "a small kitchen with a sink"]),
}


@pytest.fixture(scope="module")
def caption_scorer():
    """One caption scorer for the module: METEOR loads its paraphrase table once."""
    with CaptionScorer() as scorer:
        yield scorer


def vqa_lines() -> list[dict[str, Any]]:
    return [{"id": k, "prediction": p, "answers": VQA_ANSWERS[k]} for k, p in VQA_PREDICTIONS.items()]


def mcq_lines() -> list[dict[str, Any]]:
    return [{"id": k, "prediction": p, "choices": c, "answer": a} for k, (p, c, a) in MCQ.items()]


def text_lines() -> list[dict[str, Any]]:
    return [{"id": k, "prediction": p, "references": [r]} for k, (p, r) in TEXT.items()]


def caption_lines() -> list[dict[str, Any]]:
    return [{"id": k, "prediction": p, "references": r} for k, (p, r) in CAPTIONS.items()]


# each task gives what the scoring functions give directly ---------------------------------------


@pytest.mark.parametrize("task", ["vqa", "textvqa"])
def test_vqa_file_equals_the_task_rule_and_any_answer_match(tmp_path: Path, task: str) -> None:
    path = write_jsonl(tmp_path / "p.jsonl", vqa_lines())
    document = score_file(task, path)
    assert document == expected(task, vqa_direct(task, VQA_PREDICTIONS, VQA_ANSWERS), list(VQA_PREDICTIONS))
    assert list(document) == ["task", "n", "metrics", "implementation"]
    assert all(m["ci95"] is not None for m in document["metrics"].values())
    assert document["implementation"]["vqa_accuracy"]["rule"] == {"vqa": "vqav2", "textvqa": "textvqa"}[task]
    assert "exact_match" not in document["metrics"], "lmms-eval's name for its TextVQA accuracy is not ours to reuse"


def test_the_two_vqa_rules_differ_where_their_references_do() -> None:
    # Ten identical "two": VQAv2 (a013f00) normalises neither side when the crowd is unanimous, so
    # "two" matches all ten (1.0) and "2" none (0.0). TextVQA's processor normalises both sides
    # always, number words to digits included, so "2" matches "two" there.
    answers = {"a": ["two"] * 10}
    assert vqa_accuracy({"a": "two"}, answers).value == 1.0
    assert vqa_accuracy({"a": "2"}, answers).value == 0.0
    assert textvqa_accuracy({"a": "2"}, answers).value == 1.0
    # "Coca-Cola" against ten "coca cola": VQAv2 leaves it as it is (0.0); TextVQA lower-cases it
    # and turns the hyphen into a space (no space next to it), "coca cola": 1.0.
    crowd = {"a": ["coca cola"] * 10}
    assert vqa_accuracy({"a": "Coca-Cola"}, crowd).value == 0.0
    assert textvqa_accuracy({"a": "Coca-Cola"}, crowd).value == 1.0


def test_any_answer_match_is_one_answer_under_the_task_normalisation() -> None:
    answers = {"a": ["two"] * 10, "b": ["blue"] * 9 + ["Red."], "c": ["dog"] * 10, "d": ["3.5"] * 10}
    result = any_answer_match({"a": "2", "b": "red", "c": "the dog", "d": "3"}, answers, normalize_answer, "vqav2")
    assert result.per_sample == (1.0, 1.0, 1.0, 0.0)
    assert result.value == 0.75
    assert result.implementation["rule"] == "vqav2"
    # vqa_accuracy needs 3 of the 10 humans: one "Red." (-> "red", the crowd is split) counts 1/3 in
    # the 9 leave-one-out subsets that keep it and 0 in the one that drops it: 9 * (1/3) / 10 = 0.3
    assert vqa_accuracy({"b": "red"}, {"b": answers["b"]}).value == pytest.approx(0.3, abs=1e-12)


@pytest.mark.parametrize("task", ["mcq", "scienceqa-img"])
def test_mcq_file_equals_mcq_accuracy(tmp_path: Path, task: str) -> None:
    path = write_jsonl(tmp_path / "p.jsonl", mcq_lines())
    direct = mcq_accuracy(
        {k: v[0] for k, v in MCQ.items()}, {k: v[1] for k, v in MCQ.items()}, {k: v[2] for k, v in MCQ.items()}
    )
    document = score_file(task, path)
    assert document == expected(task, direct, list(MCQ))
    assert list(document["metrics"]) == [
        "mcq_accuracy", "parse_failure_rate", "mcq_accuracy_lenient", "parse_failure_rate_lenient",
    ]  # fmt: skip


@pytest.mark.parametrize("task", ["text", "wer", "cer"])
def test_text_file_equals_jiwer_against_the_first_reference(tmp_path: Path, task: str) -> None:
    import jiwer

    lines = text_lines()
    lines[1]["references"].append("a second reference that is never used")
    path = write_jsonl(tmp_path / "p.jsonl", lines)
    predictions = {k: v[0] for k, v in TEXT.items()}
    references = {k: [v[1]] for k, v in TEXT.items()}
    direct = {
        "wer": word_error_rate(predictions, references, pick="first"),
        "cer": char_error_rate(predictions, references, pick="first"),
    }
    document = score_file(task, path)
    assert document == expected(task, direct, list(TEXT))
    firsts, said = [v[1] for v in TEXT.values()], [v[0] for v in TEXT.values()]
    assert document["metrics"]["wer"]["value"] == pytest.approx(jiwer.wer(firsts, said), abs=1e-12)
    assert document["metrics"]["cer"]["value"] == pytest.approx(jiwer.cer(firsts, said), abs=1e-12)


def test_normalised_text_errors_are_opt_in_under_their_own_names(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "p.jsonl", text_lines())
    predictions = {k: v[0] for k, v in TEXT.items()}
    references = {k: [v[1]] for k, v in TEXT.items()}
    assert list(score_file("wer", path)["metrics"]) == ["wer", "cer"]
    document = score_file("wer", path, normalised_text_errors=True)
    assert list(document["metrics"]) == ["wer", "cer", "wer_normalised", "cer_normalised"]
    normalised = word_error_rate(predictions, references, pick="first", normalised=True)
    assert document["metrics"]["wer_normalised"]["value"] == normalised.value
    # "A dog running on the beach." against "a dog runs on the beach": case and the period count in wer only
    assert document["metrics"]["wer"]["value"] > document["metrics"]["wer_normalised"]["value"]


def test_per_sample_scores_by_id(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "p.jsonl", vqa_lines())
    document = score_file("vqa", path, per_sample=True)
    accuracy = document["metrics"]["vqa_accuracy"]
    assert list(accuracy["per_sample"]) == list(VQA_PREDICTIONS)
    # q1: "Two" -> "2" (the crowd is split, so both sides are normalised); nine of ten say "2": 1.0.
    # q3: "a dog" -> "dog" against ten "dog": the crowd is unanimous, so neither side is normalised: 0.0.
    assert accuracy["per_sample"]["q1"] == 1.0 and accuracy["per_sample"]["q3"] == 0.0
    assert accuracy["value"] == pytest.approx(sum(accuracy["per_sample"].values()) / len(VQA_PREDICTIONS))
    assert "per_sample" not in score_file("vqa", path)["metrics"]["vqa_accuracy"]


def test_blank_lines_bom_crlf_and_integer_ids_are_read(tmp_path: Path) -> None:
    lines = [json.dumps(e) for e in vqa_lines()]
    lines[0] = json.dumps({**vqa_lines()[0], "id": 17, "question": "ignored"})
    text = "\ufeff" + "\r\n".join(lines[:3]) + "\n\n   \n" + "\n".join(lines[3:])
    path = tmp_path / "p.jsonl"
    path.write_text(text, encoding="utf-8")
    predictions = {("17" if k == "q1" else k): p for k, p in VQA_PREDICTIONS.items()}
    answers = {("17" if k == "q1" else k): a for k, a in VQA_ANSWERS.items()}
    assert score_file("vqa", path)["metrics"]["vqa_accuracy"]["value"] == vqa_accuracy(predictions, answers).value


def test_every_workload_task_has_a_scoring() -> None:
    from vlmperf.workloads.tasks import TASKS

    for name in TASKS:
        get_scoring(name)
    for scoring in SCORING.values():
        assert scoring.metrics and scoring.fields
        assert {"id", "prediction"} <= set(scoring.example_line())


@needs_java
@pytest.mark.slow
def test_caption_file_through_the_cli_equals_the_scoring_functions(tmp_path: Path, vlmperf_env, caption_scorer) -> None:
    path = write_jsonl(tmp_path / "p.jsonl", caption_lines())
    result = run_cli("score", "--task", "coco-caption", "--predictions", path, "--format", "json", env=vlmperf_env)
    assert result.returncode == 0, result.stderr
    predictions = {k: v[0] for k, v in CAPTIONS.items()}
    references = {k: v[1] for k, v in CAPTIONS.items()}
    direct = {
        **caption_scorer.score(predictions, references),
        "wer": word_error_rate(predictions, references, pick="closest"),
        "cer": char_error_rate(predictions, references, pick="closest"),
    }
    document = json.loads(result.stdout)
    assert document == expected("coco-caption", direct, list(CAPTIONS))
    assert list(document["metrics"]) == [
        "bleu_1",
        "bleu_2",
        "bleu_3",
        "bleu_4",
        "meteor",
        "rouge_l",
        "cider",
        "wer",
        "cer",
    ]


# the CLI: formats, output file, bad input ---------------------------------------------------------


@pytest.mark.slow
def test_cli_json_table_and_output_file(tmp_path: Path, vlmperf_env) -> None:
    path = write_jsonl(tmp_path / "p.jsonl", vqa_lines())
    as_json = vlmperf("score", "--task", "vqa", "--predictions", str(path), "--format", "json", env=vlmperf_env)
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout) == score_file("vqa", path)
    table = vlmperf("score", "--task", "vqa", "--predictions", str(path), env=vlmperf_env)
    assert table.returncode == 0, table.stderr
    value = score_file("vqa", path)["metrics"]["vqa_accuracy"]["value"]
    assert "vqa_accuracy" in table.stdout and "any_answer_match" in table.stdout and f"{value:.4f}" in table.stdout
    per_sample = vlmperf(
        "score", "--task", "vqa", "--predictions", str(path), "-f", "json", "--per-sample", env=vlmperf_env
    )
    assert per_sample.returncode == 0, per_sample.stderr
    assert json.loads(per_sample.stdout) == score_file("vqa", path, per_sample=True)
    target = tmp_path / "scores.json"
    written = vlmperf(
        "score", "--task", "vqa", "--predictions", str(path), "-f", "json", "-o", str(target), env=vlmperf_env
    )
    assert written.returncode == 0, written.stderr
    assert written.stdout == "" and json.loads(target.read_text()) == json.loads(as_json.stdout)


VQA_OK = {"id": "a", "prediction": "two", "answers": ["two"] * 10}
MCQ_OK = {"id": "a", "prediction": "B", "choices": ["red", "blue"], "answer": 1}
BAD_INPUT = {  # name: (task, lines, what the error line must contain)
    "not json": ("vqa", [VQA_OK, '{"id": "b", "prediction": '], ["line 2", "not valid JSON"]),
    "not an object": ("vqa", [VQA_OK, "[1, 2]"], ["line 2", "not a JSON object"]),
    "no id": ("vqa", [{"prediction": "x", "answers": ["x"] * 10}], ["line 1", 'no "id"']),
    "id a list": ("vqa", [{**VQA_OK, "id": [1]}], ["line 1", '"id" must be']),
    "id empty": ("vqa", [{**VQA_OK, "id": ""}], ["line 1", "empty string"]),
    "no prediction": ("vqa", [{"id": "a", "answers": ["x"] * 10}], ["line 1", 'no "prediction"']),
    "prediction null": ("vqa", [{**VQA_OK, "prediction": None}], ["line 1", '"prediction" must be a string']),
    "no answers": ("vqa", [VQA_OK, "", {"id": "b", "prediction": "x"}], ["line 3", 'no "answers"']),
    "answers a string": ("textvqa", [{**VQA_OK, "answers": "two"}], ["line 1", '"answers" must be', "got a string"]),
    "answers with a number": ("vqa", [{**VQA_OK, "answers": ["two"] * 9 + [2]}], ["line 1", "a number at position 9"]),
    "nine answers": ("vqa", [{**VQA_OK, "answers": ["two"] * 9}], ["line 1", "got a list of 9"]),
    "no choices": ("mcq", [{"id": "a", "prediction": "B", "answer": 1}], ["line 1", 'no "choices"']),
    "answer a string": ("mcq", [{**MCQ_OK, "answer": "1"}], ["line 1", '"answer" must be', "got a string"]),
    "answer a boolean": ("scienceqa-img", [{**MCQ_OK, "answer": True}], ["line 1", "got a boolean"]),
    "answer out of range": ("mcq", [MCQ_OK, {**MCQ_OK, "id": "b", "answer": 2}],
                            ["line 2", "out of range for 2 choices"]),
    "no references for wer": ("wer", [{"id": "a", "prediction": "x", "references": []}], ["line 1", "got a list of 0"]),
    "first reference blank": ("cer", [{"id": "a", "prediction": "x", "references": [" ", "y"]}], ["line 1", "empty"]),
    "references only spaces": ("caption", [{"id": "a", "prediction": "x", "references": ["  ", "\t"]}],
                               ["line 1", "empty"]),
    "duplicate ids": ("vqa", [VQA_OK, "", VQA_OK], ["line 3", "also on line 1"]),
    "duplicate after int id": ("vqa", [{**VQA_OK, "id": 5}, {**VQA_OK, "id": "5"}], ["line 2", "also on line 1"]),
}  # fmt: skip


@pytest.mark.parametrize("case", list(BAD_INPUT))
def test_bad_input_exits_2_with_one_line_naming_the_line(tmp_path: Path, vlmperf_env, case: str) -> None:
    task, lines, wanted = BAD_INPUT[case]
    path = write_jsonl(tmp_path / "p.jsonl", lines)
    line = error_line(run_cli("score", "--task", task, "--predictions", path, env=vlmperf_env))
    assert str(path) in line
    for text in wanted:
        assert text in line


def test_bad_files_and_options(tmp_path: Path, vlmperf_env) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    blank = tmp_path / "blank.jsonl"
    blank.write_text("\n  \n\n")
    latin = tmp_path / "latin.jsonl"
    latin.write_bytes(json.dumps(VQA_OK).encode() + b'\n{"id": "b", "prediction": "caf\xe9"}\n')
    good = write_jsonl(tmp_path / "good.jsonl", [VQA_OK])
    cases = {
        ("--task", "vqa", "--predictions", str(empty)): ["has no predictions", str(empty)],
        ("--task", "vqa", "--predictions", str(blank)): ["has no predictions"],
        ("--task", "vqa", "--predictions", str(latin)): ["line 2", "not UTF-8"],
        ("--task", "vqa", "--predictions", str(tmp_path / "missing.jsonl")): ["cannot read", "missing.jsonl"],
        ("--task", "nope", "--predictions", str(good)): ["no scoring for task 'nope'", "vqa"],
        ("--task", "vqa"): ["--predictions"],
        ("--predictions", str(good)): ["--task"],
        ("--task", "vqa", "--predictions", str(good), "--format", "xml"): ["--format 'xml'"],
        ("--task", "vqa", "--predictions", str(good), "--per-sample"): ["--per-sample", "--format json"],
        ("--run", "latest", "--task", "vqa"): ["--run"],
        ("--run", "latest", "--out", str(tmp_path / "nostore")): ["no results store"],
    }
    for args, wanted in cases.items():
        line = error_line(run_cli("score", *args, env=vlmperf_env))
        for text in wanted:
            assert text in line, (args, line)


def test_bad_input_in_process_is_an_input_error(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "p.jsonl", [VQA_OK, "", "", {**VQA_OK, "id": "b", "answers": ["x"]}])
    with pytest.raises(InputError, match=r"line 4: \"answers\" must be a list of 10"):
        score_file("vqa", path)


# re-scoring a stored run ----------------------------------------------------------------------


def _store_rows(folder: Path) -> list[Any]:
    with closing(sqlite3.connect(folder / "vlmperf.db")) as db:
        return [db.execute(f"SELECT * FROM {table} ORDER BY 1, 2").fetchall() for table in ("runs", "cells", "records")]


@pytest.fixture(scope="module")
def small_run(tmp_path_factory: pytest.TempPathFactory, vlmperf_env) -> Path:
    out = tmp_path_factory.mktemp("score-run")
    result = run_cli("run", "--out", out, *SMALL_RUN, env=vlmperf_env)
    assert result.returncode == 0, result.stderr
    return out


@needs_java
@pytest.mark.slow
def test_run_is_rescored_per_cell_from_its_outputs(small_run: Path, vlmperf_env, caption_scorer) -> None:
    from vlmperf import api
    from vlmperf.workloads.builtin import load_builtin_samples

    before = _store_rows(small_run)
    result = run_cli("score", "--run", "latest", "--out", small_run, "--format", "json", env=vlmperf_env)
    assert result.returncode == 0, result.stderr
    assert _store_rows(small_run) == before, "scoring a run writes nothing"
    document = json.loads(result.stdout)
    report = api.report("latest", out=small_run)
    assert document["run"] == report["run"]["id"] and document["skipped"] == {}
    cells = {c["id"]: c for c in report["cells"]}
    assert set(document["cells"]) == set(cells)

    samples = {s.id: s.references for s in load_builtin_samples()}
    records = api.records_frame("latest", out=small_run)
    for cell_id, scored in document["cells"].items():
        task = cells[cell_id]["config"]["workload.task"]
        outputs: dict[str, str] = {}
        for ids, texts in zip(
            records[records.cell_id == cell_id].sample_ids, records[records.cell_id == cell_id].outputs, strict=True
        ):
            for sample_id, text in zip(ids, texts, strict=True):
                outputs.setdefault(sample_id, text)
        assert scored["task"] == task and scored["n"] == len(outputs) == len(samples), "every sample answered once"
        if task == "vqa":
            answers = {k: list(samples[k].answers) for k in outputs}
            direct = vqa_direct(task, outputs, answers)
        else:
            references = {k: list(samples[k].captions) for k in outputs}
            direct = {
                **caption_scorer.score(outputs, references),
                "wer": word_error_rate(outputs, references, pick="closest"),
                "cer": char_error_rate(outputs, references, pick="closest"),
                # the run's config asked for them: re-scoring follows it, as in-run scoring did
                "wer_normalised": word_error_rate(outputs, references, pick="closest", normalised=True),
                "cer_normalised": char_error_rate(outputs, references, pick="closest", normalised=True),
            }
            in_run = cells[cell_id]["metrics"]
            assert in_run["wer_normalised"]["value"] == direct["wer_normalised"].value
        assert scored == expected(task, direct, list(outputs))

    table = render_table(document)  # the CLI's --format table (the default) prints this
    assert all(cell_id in table for cell_id in cells) and "vqa_accuracy" in table and "meteor" in table


@pytest.mark.slow
def test_unknown_run_is_a_user_error(small_run: Path, vlmperf_env) -> None:
    line = error_line(vlmperf("score", "--run", "no-such-run", "--out", str(small_run), env=vlmperf_env))
    assert "no-such-run" in line
