"""How each task is scored: one declaration per task, in a registry.

A `TaskScoring` names the metrics a task reports, the reference fields each prediction needs
(their key in a predictions line, what a valid value looks like, and where a workload sample
keeps them), and the function that scores a set. Adding a task is adding one declaration to
`SCORING`; nothing else branches on task names.

| task | reference fields | metrics |
| --- | --- | --- |
| `coco-caption`, `caption` | `references`: list of >= 1 strings | `bleu_1..4`, `meteor`, `rouge_l`, `cider` (pycocoevalcap), `wer`, `cer` (closest reference) |
| `textvqa`, `vqa` | `answers`: list of 10 strings | `vqa_accuracy`, `exact_match` |
| `scienceqa-img`, `mcq` | `choices`: list of 2..26 strings; `answer`: int index into `choices` | `mcq_accuracy`, `parse_failure_rate` |
| `text`, `wer` | `references`: list of exactly 1 string | `wer`, `cer` |

`exact_match` (VQA tasks): the share of predictions that equal at least one of the question's
answers once both sides went through the full VQA answer normalisation
(`vlmperf.scoring.vqa.normalize_answer`: punctuation, lower case, number words to digits,
articles dropped, contractions restored). Per sample it is 1.0 or 0.0; unlike `vqa_accuracy`
one matching human answer is enough, and the answers are normalised like the prediction (the
official VQA code treats answers only partially, see `vqa.py`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from vlmperf.errors import InputError
from vlmperf.scoring.captions import METRIC_NAMES as CAPTION_METRICS
from vlmperf.scoring.captions import CaptionScorer
from vlmperf.scoring.mcq import mcq_accuracy
from vlmperf.scoring.result import MetricResult, check_ids, mean_result
from vlmperf.scoring.text_error import char_error_rate, normaliser, word_error_rate
from vlmperf.scoring.vqa import SOURCE as VQA_SOURCE
from vlmperf.scoring.vqa import normalize_answer, vqa_accuracy
from vlmperf.workloads.sample import References

EXACT_MATCH_VERSION = "1"
VQA_ANSWERS = 10
MAX_CHOICES = 26  # choices are named by the letters A-Z


def json_kind(value: Any) -> str:
    """What a JSON value is, for error messages: "null", "a string", "a list", ..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


# Checks: each returns what is wrong with a value (None when it is fine). `entry` holds the other
# fields of the same prediction, already checked in declaration order.
Check = Callable[[Any, Mapping[str, Any]], "str | None"]


def _string_list_problem(value: Any, least: int, most: int | None) -> str | None:
    if not isinstance(value, (list, tuple)):
        return f"got {json_kind(value)}"
    for position, item in enumerate(value):
        if not isinstance(item, str):
            return f"got a list with {json_kind(item)} at position {position}"
    if len(value) < least or (most is not None and len(value) > most):
        return f"got a list of {len(value)}"
    return None


def _references_check(least: int, most: int | None) -> Check:
    def check(value: Any, entry: Mapping[str, Any]) -> str | None:
        problem = _string_list_problem(value, least, most)
        if problem is None and not any(normaliser()(list(value))):
            # wer/cer skip references empty after normalisation; all empty leaves nothing to score against
            problem = "every reference is empty once lower-cased and stripped of punctuation"
        return problem

    return check


def _answers_check(value: Any, entry: Mapping[str, Any]) -> str | None:
    return _string_list_problem(value, VQA_ANSWERS, VQA_ANSWERS)


def _choices_check(value: Any, entry: Mapping[str, Any]) -> str | None:
    return _string_list_problem(value, 2, MAX_CHOICES)


def _answer_check(value: Any, entry: Mapping[str, Any]) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return f"got {json_kind(value)}"
    choices = entry.get("choices", ())
    if not 0 <= value < len(choices):
        return f"got {value}, out of range for {len(choices)} choices"
    return None


@dataclass(frozen=True)
class ReferenceField:
    """One reference a task needs beside each prediction.

    `name` is its key in a predictions line; `expects` says what a valid value is (error
    messages quote it); `check` returns the problem with a value, or None; `example` goes into
    the example line error messages show; `from_sample` reads it from a workload sample's
    references (for re-scoring a stored run) and `sample_name` is what that is called there.
    """

    name: str
    expects: str
    check: Check
    example: Any
    from_sample: Callable[[References], Any]
    sample_name: str


REFERENCES = ReferenceField(
    "references",
    "a non-empty list of reference texts (strings)",
    _references_check(1, None),
    ["a dog runs on the beach", "a brown dog running by the sea"],
    lambda refs: list(refs.captions),
    "captions",
)
SINGLE_REFERENCE = ReferenceField(
    "references",
    "a list of exactly one reference text (a string)",
    _references_check(1, 1),
    ["the reference text"],
    lambda refs: list(refs.captions),
    "captions",
)
ANSWERS = ReferenceField(
    "answers",
    f"a list of {VQA_ANSWERS} human answers (strings), as in VQA and TextVQA annotations",
    _answers_check,
    ["two"] * VQA_ANSWERS,
    lambda refs: list(refs.answers),
    "answers",
)
CHOICES = ReferenceField(
    "choices",
    f"a list of 2 to {MAX_CHOICES} choice texts (strings), in the order the letters A, B, ... name them",
    _choices_check,
    ["red", "blue"],
    lambda refs: list(refs.choices),
    "choices",
)
ANSWER_INDEX = ReferenceField(
    "answer",
    'the index (an integer from 0) of the right choice in "choices"',
    _answer_check,
    1,
    lambda refs: refs.answer_index,
    "answer_index",
)


class ScoringSession:
    """What scoring several sets in a row shares: one caption scorer (METEOR loaded once).

    Use it as a context manager; the caption scorer (and its Java process) starts on first use
    and stops on leaving the block.
    """

    def __init__(self) -> None:
        self._captions: CaptionScorer | None = None

    def captions(self) -> CaptionScorer:
        if self._captions is None:
            self._captions = CaptionScorer()
        return self._captions

    def close(self) -> None:
        if self._captions is not None:
            self._captions.close()
            self._captions = None

    def __enter__(self) -> ScoringSession:  # noqa: PYI034 - typing.Self needs Python 3.11
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


# A scorer: (predictions by id, references by field name then id, session) -> metrics by name.
Scorer = Callable[[Mapping[str, str], Mapping[str, Mapping[str, Any]], ScoringSession], dict[str, MetricResult]]


def exact_match(predictions: Mapping[str, str], answers: Mapping[str, Sequence[str]]) -> MetricResult:
    """`exact_match`: mean over samples of [normalize_answer(prediction) == normalize_answer(a) for some answer a].

    `normalize_answer` is the full VQA answer normalisation (see the module docstring); each
    sample scores 1.0 or 0.0. `per_sample` follows the key order of `predictions`.
    """
    check_ids(predictions, answers, "ground-truth answers")
    per_sample = [
        1.0 if normalize_answer(predictions[key]) in {normalize_answer(a) for a in answers[key]} else 0.0
        for key in predictions
    ]
    return mean_result(
        per_sample,
        {
            "name": "exact_match",
            "reference": "prediction equals any answer, both under the VQA answer normalisation",
            "version": EXACT_MATCH_VERSION,
            "source": VQA_SOURCE,
        },
    )


def _score_captions(predictions, references, session) -> dict[str, MetricResult]:
    refs = references["references"]
    pending = session.captions().start(predictions, refs)  # METEOR scores while jiwer runs here
    errors = {"wer": word_error_rate(predictions, refs), "cer": char_error_rate(predictions, refs)}
    return {**pending.result(), **errors}


def _score_vqa(predictions, references, session) -> dict[str, MetricResult]:
    answers = references["answers"]
    return {"vqa_accuracy": vqa_accuracy(predictions, answers), "exact_match": exact_match(predictions, answers)}


def _score_mcq(predictions, references, session) -> dict[str, MetricResult]:
    return mcq_accuracy(predictions, references["choices"], references["answer"])


def _score_text(predictions, references, session) -> dict[str, MetricResult]:
    refs = references["references"]
    return {"wer": word_error_rate(predictions, refs), "cer": char_error_rate(predictions, refs)}


@dataclass(frozen=True)
class TaskScoring:
    """How one task is scored: its metrics (in report order), the references it needs, its scorer."""

    name: str
    description: str
    metrics: tuple[str, ...]
    fields: tuple[ReferenceField, ...]
    scorer: Scorer

    def score(
        self,
        predictions: Mapping[str, str],
        references: Mapping[str, Mapping[str, Any]],
        session: ScoringSession | None = None,
    ) -> dict[str, MetricResult]:
        """The task's metrics, in declared order, for `predictions` against `references[field][id]`."""
        if session is None:
            with ScoringSession() as own:
                return self.score(predictions, references, own)
        results = self.scorer(predictions, references, session)
        return {name: results[name] for name in self.metrics}

    def references_from_samples(
        self, samples: Mapping[str, Any], ids: Sequence[str], where: str
    ) -> dict[str, dict[str, Any]]:
        """`references[field][id]` for the given sample ids, read from workload samples and checked."""
        missing = [sample_id for sample_id in ids if sample_id not in samples]
        if missing:
            raise InputError(
                f"{where}: the workload has no samples {missing[:5]} that were measured "
                "(its data changed since the run); score with the data the run used"
            )
        references: dict[str, dict[str, Any]] = {field.name: {} for field in self.fields}
        for sample_id in ids:
            entry: dict[str, Any] = {}
            for field in self.fields:
                value = field.from_sample(samples[sample_id].references)
                problem = field.check(value, entry)
                if problem is not None:
                    raise InputError(
                        f"{where}, sample {sample_id!r}: task {self.name} needs its "
                        f"{field.sample_name} as {field.expects}; {problem}"
                    )
                entry[field.name] = references[field.name][sample_id] = value
        return references

    def example_line(self) -> dict[str, Any]:
        """A valid predictions line for this task (shown in error messages)."""
        return {"id": "1", "prediction": "...", **{f.name: f.example for f in self.fields}}


_CAPTIONS = {
    "metrics": (*CAPTION_METRICS, "wer", "cer"),
    "fields": (REFERENCES,),
    "scorer": _score_captions,
}
_VQA = {"metrics": ("vqa_accuracy", "exact_match"), "fields": (ANSWERS,), "scorer": _score_vqa}
_MCQ = {"metrics": ("mcq_accuracy", "parse_failure_rate"), "fields": (CHOICES, ANSWER_INDEX), "scorer": _score_mcq}
_TEXT = {"metrics": ("wer", "cer"), "fields": (SINGLE_REFERENCE,), "scorer": _score_text}

SCORING: dict[str, TaskScoring] = {
    scoring.name: scoring
    for scoring in (
        TaskScoring("coco-caption", "COCO captions: pycocoevalcap metrics plus wer/cer", **_CAPTIONS),
        TaskScoring("caption", "captions of any dataset: pycocoevalcap metrics plus wer/cer", **_CAPTIONS),
        TaskScoring("textvqa", "TextVQA: official VQA accuracy over 10 answers", **_VQA),
        TaskScoring("vqa", "VQA on any dataset: official VQA accuracy over 10 answers", **_VQA),
        TaskScoring("scienceqa-img", "ScienceQA with images: multiple choice", **_MCQ),
        TaskScoring("mcq", "multiple choice on any dataset", **_MCQ),
        TaskScoring("text", "text against one reference: wer and cer", **_TEXT),
        TaskScoring("wer", "wer and cer against one reference", **_TEXT),
    )
}


def get_scoring(task: str) -> TaskScoring:
    """The scoring declared for `task`; an unknown task is an InputError listing the known ones."""
    try:
        return SCORING[task]
    except KeyError:
        raise InputError(f"no scoring for task {task!r}; tasks that can be scored: {', '.join(SCORING)}") from None
