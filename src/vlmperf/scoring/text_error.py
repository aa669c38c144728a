"""Word and character error rate (`wer`, `cer`): jiwer's own figures, against one reference per sample.

`wer` is exactly `jiwer.wer(references, predictions)` and `cer` exactly
`jiwer.cer(references, predictions)` (written against jiwer 4.0.0; the installed version is recorded
with every figure), with jiwer's DEFAULT transforms, pooled over the set: total edits (substitutions
+ deletions + insertions) / total reference words or characters. jiwer's defaults keep case and
punctuation, so "A dog runs." against "a dog runs" is 2 errors in 3 words:
- `wer` (`jiwer.transformations.wer_default`): RemoveMultipleSpaces (every run of two or more
  whitespace characters becomes one space), Strip, ReduceToListOfListOfWords (split on " ", empty
  words dropped). A single newline or tab between two words is not a space, so it glues them into
  one word; two whitespace characters in a row separate them.
- `cer` (`jiwer.transformations.cer_default`): Strip, ReduceToListOfListOfChars; every character
  left counts, spaces and punctuation included.
`per_sample` is each sample's own rate against its chosen reference; the set `value` is jiwer's
pooled figure over the chosen (reference, prediction) pairs, not the mean of `per_sample`. An empty
prediction scores 1.0 (every reference unit deleted).

Which reference (`pick`, required):
- "first": each sample's first reference, whatever follows it. The `text`, `wer` and `cer` tasks
  may give several references per line; only the first is scored against.
- "closest" (caption tasks): the reference that gives the sample its lowest error rate, ties to
  the earlier reference; `wer` and `cer` choose independently. The pooled figure is jiwer's call on
  the chosen pairs.

Empty references: a reference with no word (no character) once its transforms ran has no error
rate. jiwer 4.0.0 does not raise on one (older jiwer did): it reports the insertion count as the
"rate" and adds nothing to the pooled denominator, so vlmperf never hands it one. "first": a
sample whose first reference is empty is an InputError; "closest": empty references are never
chosen, and a sample all of whose references are empty is an InputError.
`reference_problem` says the same for one sample's references (the predictions-file checks use it).

Normalised variant (opt-in, `normalised=True`, reported as `wer_normalised` / `cer_normalised`, never
under the plain names): predictions and references are first lower-cased, every Unicode punctuation
character deleted (category P*, jiwer's `RemovePunctuation` set, in one `str.translate`, so
"don't" -> "dont", "3.5" -> "35"), every whitespace run (newlines and tabs included) made one space,
and stripped; then jiwer's own call as above (its default transforms change nothing on such text
but the split into words or characters).
"""

from __future__ import annotations

import functools
import importlib.metadata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

from vlmperf.errors import InputError
from vlmperf.scoring.result import MetricResult, check_text_references, interval

PICKS = ("first", "closest")
NORMALISATION = (
    "lower-case; delete Unicode punctuation (category P*, as jiwer.RemovePunctuation); "
    "whitespace runs to one space; strip"
)
_REFERENCE = {
    "first": "each sample's first reference (later references are not scored against)",
    "closest": "each sample's closest reference: lowest per-sample error rate, ties to the earlier "
    "reference; empty references never chosen",
}
_REMEDY = {
    "first": "put a reference with text in it first, or leave the sample out of the scored set",
    "closest": "give the sample a reference with text in it, or leave it out of the scored set",
}
_EMPTY_WHEN = {
    False: "once jiwer strips it",
    True: "once lower-cased, its punctuation deleted and its whitespace collapsed",
}


def _jiwer():
    try:
        import jiwer
    except ImportError as exc:
        raise InputError("wer and cer need jiwer: pip install 'vlmperf[quality]' (or pip install jiwer)") from exc
    return jiwer


@dataclass(frozen=True)
class _Measure:
    """One of jiwer's two measures: its name, default transform, batch alignment and pooled call."""

    name: str  # "wer" or "cer": jiwer's function, and the metric's name
    transform: Any  # jiwer.transformations.wer_default or cer_default
    align: Callable[..., Any]  # jiwer.process_words or process_characters
    pooled: Callable[..., float]  # jiwer.wer or jiwer.cer


def _measures() -> tuple[_Measure, _Measure]:
    """`wer` and `cer` as jiwer defines them, with jiwer's own default transforms (imported, not
    copied, so a jiwer that changes its defaults changes vlmperf's figures with it)."""
    jiwer = _jiwer()
    from jiwer.transformations import cer_default, wer_default

    return (
        _Measure("wer", wer_default, jiwer.process_words, jiwer.wer),
        _Measure("cer", cer_default, jiwer.process_characters, jiwer.cer),
    )


@functools.lru_cache(maxsize=1)
def _punctuation_table() -> dict[int, None]:
    """Deletes exactly the characters `jiwer.RemovePunctuation` deletes (its own set), in one
    `str.translate` rather than its one `str.replace` per punctuation character (about 800)."""
    return str.maketrans({c: None for c in _jiwer().RemovePunctuation().tokens_to_remove})


def _normalise(text: str) -> str:
    """The opt-in normalisation: lower-case, punctuation deleted, whitespace runs to one space, strip.
    (`str.split()` splits on exactly the characters regex `\\s` matches, so the join equals
    `SubstituteRegexes({r"\\s+": " "})` then `Strip()`.)"""
    return " ".join(text.lower().translate(_punctuation_table()).split())


def _prepare(normalised: bool) -> Callable[[str], str]:
    """What happens to every text before jiwer's own transforms: nothing, or the normalisation."""
    return _normalise if normalised else str


def _is_empty(text: str, transform: Any) -> bool:
    """Whether `text` has no word (character) left after jiwer's `transform`: it has no error rate,
    and jiwer 4 would count a pair with it as insertions over zero reference units, not raise."""
    return not transform(text)[0]


def _check_pick(pick: str) -> None:
    if pick not in PICKS:
        raise ValueError(f"pick must be one of {PICKS}, got {pick!r}")


def reference_problem(references: Sequence[str], *, pick: str, normalised: bool) -> str | None:
    """What is wrong with one sample's references for `wer` and `cer` under `pick` (None when fine),
    as a clause: there is none, or the first reference ("first") or every reference ("closest") is
    empty after the texts' transforms (jiwer's defaults, after the normalisation when `normalised`).
    The predictions-file checks call it so a file is refused with the rule the scorers apply."""
    _check_pick(pick)
    if not references:
        return "there is no reference"
    prepare = _prepare(normalised)

    def empty(text: str) -> bool:
        return any(_is_empty(prepare(text), measure.transform) for measure in _measures())

    when = _EMPTY_WHEN[normalised]
    if pick == "first" and empty(references[0]):
        return f"the first reference is empty {when}, and wer and cer are scored against the first reference only"
    if pick == "closest" and all(empty(text) for text in references):
        return f"every reference is empty {when}"
    return None


def word_error_rate(
    predictions: Mapping[str, str], references: Mapping[str, Sequence[str]], *, pick: str, normalised: bool = False
) -> MetricResult:
    """`wer`: `jiwer.wer(references, predictions)` with jiwer's default transforms, each sample paired
    with one reference under `pick`: "first" (the `text`/`wer`/`cer` tasks, whose lines may carry
    several references; only the first is scored against) or "closest" (caption tasks: the lowest
    per-sample WER, ties to the earlier). `per_sample` is each sample's own WER against it.
    `normalised=True` is `wer_normalised`: the texts are normalised first (see the module)."""
    return _error_rate(_measures()[0], predictions, references, pick, normalised)


def char_error_rate(
    predictions: Mapping[str, str], references: Mapping[str, Sequence[str]], *, pick: str, normalised: bool = False
) -> MetricResult:
    """`cer`: `jiwer.cer(references, predictions)` with jiwer's default transforms, each sample paired
    with one reference under `pick`: "first" (the `text`/`wer`/`cer` tasks, whose lines may carry
    several references; only the first is scored against) or "closest" (caption tasks: the lowest
    per-sample CER, chosen apart from `wer`'s, ties to the earlier). `per_sample` is each sample's own
    CER against it. `normalised=True` is `cer_normalised`: the texts are normalised first."""
    return _error_rate(_measures()[1], predictions, references, pick, normalised)


def _error_rate(
    measure: _Measure,
    predictions: Mapping[str, str],
    references: Mapping[str, Sequence[str]],
    pick: str,
    normalised: bool,
) -> MetricResult:
    """`measure` over the set: each sample's chosen reference and own rate, then jiwer's pooled call
    on the chosen pairs (so the value is jiwer's, not a sum vlmperf does itself)."""
    _check_pick(pick)
    ids = check_text_references(predictions, references)
    prepare = _prepare(normalised)
    preds = [prepare(predictions[key]) for key in ids]
    candidates = [[prepare(ref) for ref in references[key][: 1 if pick == "first" else None]] for key in ids]
    per_sample: list[float] = []
    chosen: list[str] = []
    for key, choice in zip(ids, _best_references(measure, preds, candidates), strict=True):
        if choice is None:
            _raise_no_reference(measure.name, key, references[key], pick, normalised)
        per_sample.append(choice[0])
        chosen.append(choice[1])
    # The pooled figure is jiwer's own call on the chosen pairs, so it equals jiwer by construction.
    value = float(
        measure.pooled(chosen, preds, reference_transform=measure.transform, hypothesis_transform=measure.transform)
    )
    samples = tuple(per_sample)
    return MetricResult(value, samples, interval(samples, value), _implementation(measure, pick, normalised))


def _best_references(
    measure: _Measure, preds: Sequence[str], candidates: Sequence[Sequence[str]]
) -> list[tuple[float, str] | None]:
    """Each sample's (rate, reference) with the lowest rate among its non-empty candidates, the
    earlier on ties; None where no candidate has a word (character). Every candidate pair goes
    through one jiwer alignment call, which is far faster than one call per pair on captions."""
    pairs = [(i, ref) for i, refs in enumerate(candidates) for ref in refs if not _is_empty(ref, measure.transform)]
    best: list[tuple[float, str] | None] = [None] * len(preds)
    if not pairs:  # jiwer would turn an empty list into one empty sentence
        return best
    aligned = measure.align(
        [ref for _, ref in pairs],
        [preds[i] for i, _ in pairs],
        reference_transform=measure.transform,
        hypothesis_transform=measure.transform,
    )
    for (i, ref), ref_units, chunks in zip(pairs, aligned.references, aligned.alignments, strict=True):
        rate = _pair_rate(len(ref_units), chunks)
        current = best[i]
        if current is None or rate < current[0]:
            best[i] = (rate, ref)
    return best


def _pair_rate(ref_length: int, chunks: Sequence[Any]) -> float:
    """jiwer's rate of one non-empty reference from its alignment chunks: (S + D + I) / reference
    length, which is `jiwer.wer([ref], [pred])` (the edit count does not depend on the batch)."""
    errors = 0
    for chunk in chunks:
        if chunk.type == "insert":
            errors += chunk.hyp_end_idx - chunk.hyp_start_idx
        elif chunk.type != "equal":  # substitute or delete
            errors += chunk.ref_end_idx - chunk.ref_start_idx
    return errors / ref_length


def _raise_no_reference(name: str, key: str, references: Sequence[str], pick: str, normalised: bool) -> NoReturn:
    """The InputError for a sample with no reference to score against, in `reference_problem`'s words."""
    problem = reference_problem(list(references), pick=pick, normalised=normalised)
    raise InputError(
        f"sample {key!r}: {problem or 'no reference has text in it'}; {name} has no reference to score it "
        f"against: {_REMEDY[pick]}"
    )


def _implementation(measure: _Measure, pick: str, normalised: bool) -> dict[str, str]:
    """Who computed the figure, with which version, call, transforms and reference policy."""
    steps = ", ".join(type(step).__name__ for step in measure.transform.transforms)
    transforms = f"jiwer defaults ({measure.name}_default: {steps})"
    if normalised:
        transforms = f"{NORMALISATION}; then {transforms}"
    return {
        "name": "jiwer",
        "version": importlib.metadata.version("jiwer"),
        "call": f"jiwer.{measure.name}(references, predictions)",
        "transforms": transforms,
        "reference": _REFERENCE[pick],
    }
