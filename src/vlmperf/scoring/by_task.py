"""How each task is scored: one declaration per task, in a registry.

A `TaskScoring` names the metrics a task reports, the reference fields each prediction needs
(their key in a predictions line, what a valid value looks like, and where a workload sample
keeps them), and the function that scores a set. Adding a task is adding one declaration to
`SCORING`; nothing else branches on task names.

Every metric under a reference's name equals that reference on the same outputs; the figures of
vlmperf's own have names of their own (`any_answer_match`, `*_lenient`, `*_normalised`):

| task | reference fields | metrics |
| --- | --- | --- |
| `coco-caption`, `caption` | `references`: list of >= 1 strings | `bleu_1..4`, `meteor`, `rouge_l`, `cider` (pycocoevalcap), `wer`, `cer` (jiwer, closest reference) |
| `vqa` | `answers`: list of 10 strings | `vqa_accuracy` (VQAv2's vqaEval.py), `any_answer_match` |
| `textvqa` | `answers`: list of 10 strings | `vqa_accuracy` (TextVQA's evaluator, as lmms-eval runs it), `any_answer_match` |
| `scienceqa-img`, `mcq` | `choices`: list of 2..26 strings; `answer`: int index into `choices` | `mcq_accuracy`, `parse_failure_rate` (lmms-eval's rule), `mcq_accuracy_lenient`, `parse_failure_rate_lenient` |
| `text`, `wer`, `cer` | `references`: list of >= 1 strings, the first is scored against | `wer`, `cer` (jiwer) |

With `ScoringSession(normalised_text_errors=True)` the tasks that report `wer` also report
`wer_normalised` and `cer_normalised` (lower-case, punctuation deleted, whitespace collapsed).

`any_answer_match` (VQA tasks): the share of predictions equal to at least one of the question's
answers once both sides went through the task's own answer normalisation (VQAv2's full
normalisation for `vqa`, the EvalAI answer processor for `textvqa`). Per sample 1.0 or 0.0: one
matching human answer is enough, where `vqa_accuracy` needs three. lmms-eval calls its TextVQA
accuracy `exact_match`, so vlmperf reports no figure under that name.
"""  # noqa: E501 - the rows of the Markdown table above cannot be wrapped

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TypedDict

from vlmperf.errors import InputError
from vlmperf.scoring import text_error, textvqa, vqa
from vlmperf.scoring.captions import METRIC_NAMES as CAPTION_METRICS
from vlmperf.scoring.captions import CaptionScorer
from vlmperf.scoring.mcq import mcq_accuracy
from vlmperf.scoring.result import MetricResult, check_ids, mean_result
from vlmperf.workloads.sample import References

ANY_ANSWER_MATCH_VERSION = "2"
NORMALISED_TEXT_ERRORS = ("wer_normalised", "cer_normalised")
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


def _references_check(pick: str) -> Check:
    def check(value: Any, entry: Mapping[str, Any]) -> str | None:
        problem = _string_list_problem(value, 1, None)
        if problem is None:
            problem = text_error.reference_problem(value, pick=pick, normalised=False)
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
    _references_check("closest"),
    ["a dog runs on the beach", "a brown dog running by the sea"],
    lambda refs: list(refs.captions),
    "captions",
)
FIRST_REFERENCE = ReferenceField(
    "references",
    "a non-empty list of reference texts (strings); wer and cer score against the first",
    _references_check("first"),
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
    """What scoring several sets in a row shares: one caption scorer (METEOR loaded once), and the
    run's scoring options.

    `normalised_text_errors` adds `wer_normalised` and `cer_normalised` to every task that reports
    `wer`. Use it as a context manager; the caption scorer (and its Java process) starts on first
    use and stops on leaving the block.
    """

    def __init__(self, *, normalised_text_errors: bool = False) -> None:
        self.normalised_text_errors = normalised_text_errors
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


def any_answer_match(
    predictions: Mapping[str, str], answers: Mapping[str, Sequence[str]], normalise: Callable[[str], str], rule: str
) -> MetricResult:
    """`any_answer_match`: mean over samples of [normalise(prediction) == normalise(a) for some answer a].

    `normalise` is the task's own answer normalisation, named by `rule`; each sample scores 1.0
    or 0.0. `per_sample` follows the key order of `predictions`.
    """
    check_ids(predictions, answers, "ground-truth answers")
    per_sample = [
        1.0 if normalise(predictions[key]) in {normalise(a) for a in answers[key]} else 0.0 for key in predictions
    ]
    return mean_result(
        per_sample,
        {
            "name": "any_answer_match",
            "rule": rule,
            "reference": f"vlmperf: prediction equals any answer, both under the {rule} answer normalisation",
            "version": ANY_ANSWER_MATCH_VERSION,
        },
    )


def _text_errors(
    predictions: Mapping[str, str], references: Mapping[str, Sequence[str]], pick: str, session: ScoringSession
) -> dict[str, MetricResult]:
    """`wer` and `cer` (jiwer's own call), and their normalised variants when the session asks."""
    results = {
        "wer": text_error.word_error_rate(predictions, references, pick=pick),
        "cer": text_error.char_error_rate(predictions, references, pick=pick),
    }
    if session.normalised_text_errors:
        results["wer_normalised"] = text_error.word_error_rate(predictions, references, pick=pick, normalised=True)
        results["cer_normalised"] = text_error.char_error_rate(predictions, references, pick=pick, normalised=True)
    return results


def _score_captions(predictions, references, session) -> dict[str, MetricResult]:
    refs = references["references"]
    pending = session.captions().start(predictions, refs)  # METEOR scores while jiwer runs here
    errors = _text_errors(predictions, refs, "closest", session)
    return {**pending.result(), **errors}


def _score_vqav2(predictions, references, session) -> dict[str, MetricResult]:
    answers = references["answers"]
    return {
        "vqa_accuracy": vqa.vqa_accuracy(predictions, answers),
        "any_answer_match": any_answer_match(predictions, answers, vqa.normalize_answer, "vqav2"),
    }


def _score_textvqa(predictions, references, session) -> dict[str, MetricResult]:
    answers = references["answers"]
    return {
        "vqa_accuracy": textvqa.textvqa_accuracy(predictions, answers),
        "any_answer_match": any_answer_match(predictions, answers, textvqa.process_answer, "textvqa"),
    }


def _score_mcq(predictions, references, session) -> dict[str, MetricResult]:
    return mcq_accuracy(predictions, references["choices"], references["answer"])


def _score_text(predictions, references, session) -> dict[str, MetricResult]:
    return _text_errors(predictions, references["references"], "first", session)


@dataclass(frozen=True)
class TaskScoring:
    """How one task is scored: its metrics (in report order), the references it needs, its scorer."""

    name: str
    description: str
    metrics: tuple[str, ...]
    fields: tuple[ReferenceField, ...]
    scorer: Scorer

    def metric_names(self, session: ScoringSession) -> tuple[str, ...]:
        """The metrics this task reports under the session's options, in report order."""
        if session.normalised_text_errors and "wer" in self.metrics:
            return (*self.metrics, *NORMALISED_TEXT_ERRORS)
        return self.metrics

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
        return {name: results[name] for name in self.metric_names(session)}

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


class _Declared(TypedDict):
    """A task family's metrics, fields and scorer, shared by the tasks that score alike."""

    metrics: tuple[str, ...]
    fields: tuple[ReferenceField, ...]
    scorer: Scorer


_CAPTIONS: _Declared = {
    "metrics": (*CAPTION_METRICS, "wer", "cer"),
    "fields": (REFERENCES,),
    "scorer": _score_captions,
}
_VQA_METRICS = ("vqa_accuracy", "any_answer_match")
_MCQ: _Declared = {
    "metrics": ("mcq_accuracy", "parse_failure_rate", "mcq_accuracy_lenient", "parse_failure_rate_lenient"),
    "fields": (CHOICES, ANSWER_INDEX),
    "scorer": _score_mcq,
}
_TEXT: _Declared = {"metrics": ("wer", "cer"), "fields": (FIRST_REFERENCE,), "scorer": _score_text}

SCORING: dict[str, TaskScoring] = {
    scoring.name: scoring
    for scoring in (
        TaskScoring("coco-caption", "COCO captions: pycocoevalcap metrics plus wer/cer", **_CAPTIONS),
        TaskScoring("caption", "captions of any dataset: pycocoevalcap metrics plus wer/cer", **_CAPTIONS),
        TaskScoring(
            "textvqa", "TextVQA: TextVQA's own accuracy over 10 answers (as lmms-eval and LLaVA score it)",
            _VQA_METRICS, (ANSWERS,), _score_textvqa,
        ),
        TaskScoring(
            "vqa", "VQA on any dataset: VQAv2's official accuracy over 10 answers",
            _VQA_METRICS, (ANSWERS,), _score_vqav2,
        ),
        TaskScoring("scienceqa-img", "ScienceQA with images: multiple choice", **_MCQ),
        TaskScoring("mcq", "multiple choice on any dataset", **_MCQ),
        TaskScoring("text", "text against its first reference: wer and cer", **_TEXT),
        TaskScoring("wer", "wer and cer against the first reference", **_TEXT),
        TaskScoring("cer", "cer and wer against the first reference", **_TEXT),
    )
}  # fmt: skip


def get_scoring(task: str) -> TaskScoring:
    """The scoring declared for `task`; an unknown task is an InputError listing the known ones."""
    try:
        return SCORING[task]
    except KeyError:
        raise InputError(f"no scoring for task {task!r}; tasks that can be scored: {', '.join(SCORING)}") from None
