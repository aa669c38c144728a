"""Read a predictions file (JSON lines) for `vlmperf score`, checking every line against its task.

Each non-blank line is one JSON object: `"id"` (a non-empty string, or an integer, which is read
as its decimal string), `"prediction"` (a string, the model's output; it may be empty) and the
reference fields the task declares in `vlmperf.scoring.by_task` (for example `"answers"` for
`vqa`). Other keys are ignored. Blank lines (only whitespace) are skipped; a UTF-8 byte order
mark at the start is allowed.

Every problem is an `InputError` naming the file and the line (lines count from 1, blank lines
included), saying what is wrong and what to write instead: a line that is not UTF-8 or not
JSON, a value that is not an object, a missing or mistyped `id`, `prediction` or reference
field, a prediction longer than `MAX_PREDICTION_CHARS`, an id used twice (both lines named),
and a file with no predictions at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from vlmperf.errors import InputError
from vlmperf.scoring.by_task import TaskScoring, json_kind

ID_EXPECTS = "a non-empty string or an integer"
MAX_PREDICTION_CHARS = 10_000
"""The longest prediction scored, in characters (about 2,000 English words). A COCO caption is about
50 characters and a VQA or multiple-choice answer a few words, so no caption or answer comes near
it; a longer one is a broken output (a model that never stopped, a file pasted in). METEOR's Java
aligner ran out of its 2 GB heap on one 100,000-character caption, and a 50 MB one ran 4-7 minutes
to that end, where 10,000 characters score in seconds; word and character error rates cost the
product of the two lengths."""


@dataclass(frozen=True)
class PredictionSet:
    """A checked predictions file: predictions and references by id, in file order."""

    path: Path
    task: str
    predictions: dict[str, str]
    references: dict[str, dict[str, Any]]  # field name -> id -> value
    lines: dict[str, int]  # id -> its line number

    def __len__(self) -> int:
        return len(self.predictions)


def _example(scoring: TaskScoring) -> str:
    return orjson.dumps(scoring.example_line()).decode()


def read_predictions(path: Path | str, scoring: TaskScoring) -> PredictionSet:
    """Parse and check `path` for `scoring`'s task; the first problem is raised as an InputError."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(
            f"cannot read the predictions file {path} ({exc.strerror or exc}): give --predictions a JSON lines file"
        ) from exc
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    predictions: dict[str, str] = {}
    references: dict[str, dict[str, Any]] = {field.name: {} for field in scoring.fields}
    lines: dict[str, int] = {}
    for number, raw in enumerate(data.split(b"\n"), start=1):
        if not raw.strip():
            continue
        entry = _parse_line(path, number, raw, scoring)
        key, prediction = _id_and_prediction(path, number, entry, scoring)
        if key in lines:
            raise InputError(
                f"{path}, line {number}: id {key!r} is also on line {lines[key]}; give each prediction a unique id"
            )
        for field in scoring.fields:
            references[field.name][key] = _reference(path, number, entry, field, scoring)
        predictions[key] = prediction
        lines[key] = number
    if not predictions:
        raise InputError(
            f"{path} has no predictions (it is empty or only blank lines); write one JSON object per line, "
            f"for task {scoring.name} like {_example(scoring)}"
        )
    return PredictionSet(path, scoring.name, predictions, references, lines)


def _parse_line(path: Path, number: int, raw: bytes, scoring: TaskScoring) -> dict[str, Any]:
    where = f"{path}, line {number}"
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{where}: not UTF-8 text ({exc.reason} at byte {exc.start + 1}); save the file as UTF-8"
        ) from None
    try:
        entry = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InputError(
            f"{where}: not valid JSON ({exc.msg} at column {exc.colno}); each line must be one JSON object, "
            f"for task {scoring.name} like {_example(scoring)}"
        ) from None
    if not isinstance(entry, dict):
        raise InputError(
            f"{where}: {json_kind(entry)}, not a JSON object; each line must be one object, "
            f"for task {scoring.name} like {_example(scoring)}"
        )
    return entry


def _id_and_prediction(path: Path, number: int, entry: dict[str, Any], scoring: TaskScoring) -> tuple[str, str]:
    where = f"{path}, line {number}"
    if "id" not in entry:
        raise InputError(f'{where}: no "id"; give every line a unique "id" ({ID_EXPECTS})')
    key = entry["id"]
    if isinstance(key, bool) or not isinstance(key, (str, int)) or key == "":
        shown = "an empty string" if key == "" else json_kind(key)
        raise InputError(f'{where}: "id" must be {ID_EXPECTS}, got {shown}')
    if "prediction" not in entry:
        raise InputError(f'{where}: no "prediction"; add the model\'s output as "prediction": "..."')
    prediction = entry["prediction"]
    if not isinstance(prediction, str):
        raise InputError(
            f'{where}: "prediction" must be a string (the model\'s output; "" for none), got {json_kind(prediction)}'
        )
    if len(prediction) > MAX_PREDICTION_CHARS:
        raise InputError(
            f'{where}: "prediction" is {len(prediction):,} characters, more than the {MAX_PREDICTION_CHARS:,} '
            "a caption or an answer ever needs; shorten it (a model that never stopped?) or leave the line out"
        )
    return str(key), prediction


def _reference(path: Path, number: int, entry: dict[str, Any], field, scoring: TaskScoring) -> Any:
    where = f"{path}, line {number}"
    if field.name not in entry:
        example = orjson.dumps({field.name: field.example}).decode()[1:-1]
        raise InputError(
            f'{where}: no "{field.name}", which task {scoring.name} needs: {field.expects}, for example {example}'
        )
    value = entry[field.name]
    problem = field.check(value, entry)
    if problem is not None:
        raise InputError(f'{where}: "{field.name}" must be {field.expects}; {problem}')
    return value
