"""Multiple-choice accuracy with a deterministic answer parser (ScienceQA-img and the like).

Why a parser of our own: lmms-eval's `scienceqa_img` (lmms_eval/tasks/scienceqa/utils.py,
`sqa_process_results`, "how llava parse it") scores an output right only when it *is* the target
letter or starts with "<uppercase letter>."; everything else is silently wrong, so a model that
answers "(B)" or "The answer is B" looks no better than one answering nonsense. Here the parse
is explicit: each output maps to a choice index or to a parse failure, and the failure rate is
reported beside the accuracy so a change in answer *format* cannot pass for a change in quality.

Rules, first match wins. Letters are the first len(choices) capitals (A-E for ScienceQA); a letter
outside that range is ignored by the letter rules, never guessed; a lower-case letter is not a
letter (too easily the article "a").

1. `two_letters`: the output is only letters and connectives ("A or B", "(A)/(C)", "A, B") ->
   ambiguous, failure.
2. `letter`: the whole output is one letter, optionally wrapped or followed by a mark
   ("B", "B.", "(B)", "B)", "B:").
3. `leading_letter`: the output starts with "B." (anything after, as lmms-eval accepts),
   "(B)", "B)" or "B:" followed by a space or the end. It wins over a later answer phrase, as
   in LLaVA's order of checks.
4. `answer_phrase`: "answer is B", "answer is: B", "Answer: (B)", "answer - B" anywhere
   (the words in any case; the capital letter not followed by a letter or digit). All such
   phrases must name one letter, or it is a failure (`conflicting_letters`).
5. `choice_text`: the output equals one choice's text after normalisation (lower-case, spaces
   collapsed, surrounding quotes and final period removed).
6. `contains_choice`: the normalised output contains, as whole words, exactly one choice's text.
   A mention that lies inside a mention of a longer choice does not count ("light blue" does not
   also mention "blue"); two distinct choices mentioned is a failure (`two_choices`).
7. otherwise `no_match`, a failure.

Every output lmms-eval's scienceqa_img scores correct is parsed to the same (correct) index here;
the outputs it scores wrong and this parser accepts are those in rules 2-6 beyond "X" and "X.".
LLaVA's own eval_science_qa.py uses the same letter forms plus "The answer is X", also covered.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping, Sequence

from vlmperf.errors import InputError
from vlmperf.scoring.result import MetricResult, check_ids, mean_result

VERSION = "1"
_REFERENCE = "deterministic parser; superset of lmms-eval scienceqa sqa_process_results and LLaVA eval_science_qa.py"

_ITEM = r"\(?[A-Z]\)?"
_TWO_LETTERS = re.compile(rf"^{_ITEM}(?:\s*(?:,|/|&|\bor\b|\band\b)\s*{_ITEM})+\s*\.?$")
_LETTER = re.compile(r"^\(?([A-Z])\)?[.:)]?$")
_LEADING = re.compile(r"^(?:([A-Z])\.|\(([A-Z])\)|([A-Z])[):](?=\s|$))")
_PHRASE = re.compile(r"(?i:answer)\s*(?:(?i:is)\s*:?|:|-)\s*\(?([A-Z])(?![A-Za-z0-9])")
_QUOTES = "\"'`“”‘’"


def _normalize_text(text: str) -> str:
    """Lower-case, collapse whitespace, drop surrounding quotes and a final period."""
    text = " ".join(text.lower().split())
    text = text.strip(_QUOTES).rstrip(".").strip(_QUOTES).strip()
    return text


def _letter_index(letter: str, n_choices: int) -> int | None:
    index = string.ascii_uppercase.index(letter)
    return index if index < n_choices else None


def explain_choice(output: str, choices: Sequence[str]) -> tuple[int | None, str]:
    """The parsed choice index (or None) and the name of the rule that decided it."""
    text = output.strip()
    n = len(choices)
    if _TWO_LETTERS.match(text):
        return None, "two_letters"
    match = _LETTER.match(text)
    if match and (index := _letter_index(match.group(1), n)) is not None:
        return index, "letter"
    match = _LEADING.match(text)
    if match:
        letter = next(group for group in match.groups() if group)
        if (index := _letter_index(letter, n)) is not None:
            return index, "leading_letter"
    named = {i for m in _PHRASE.finditer(text) if (i := _letter_index(m.group(1), n)) is not None}
    if len(named) == 1:
        return named.pop(), "answer_phrase"
    if len(named) > 1:
        return None, "conflicting_letters"
    return _match_choice_text(text, choices)


def _match_choice_text(text: str, choices: Sequence[str]) -> tuple[int | None, str]:
    said = _normalize_text(text)
    normalized = [_normalize_text(choice) for choice in choices]
    exact = [i for i, choice in enumerate(normalized) if choice and choice == said]
    if len(exact) == 1:
        return exact[0], "choice_text"
    if len(exact) > 1:
        return None, "two_choices"
    spans = {
        i: [m.span() for m in re.finditer(rf"(?<!\w){re.escape(choice)}(?!\w)", said)]
        for i, choice in enumerate(normalized)
        if choice
    }
    mentioned = set()
    for i, own in spans.items():
        for start, end in own:
            inside_longer = any(
                s <= start and end <= e and (e - s) > (end - start)
                for j, other in spans.items()
                if j != i
                for s, e in other
            )
            if not inside_longer:
                mentioned.add(i)
                break
    if len(mentioned) == 1:
        return mentioned.pop(), "contains_choice"
    if len(mentioned) > 1:
        return None, "two_choices"
    return None, "no_match"


def parse_choice(output: str, choices: Sequence[str]) -> int | None:
    """The index of the choice the output picked, or None when it cannot be told."""
    return explain_choice(output, choices)[0]


def mcq_accuracy(
    predictions: Mapping[str, str],
    choices: Mapping[str, Sequence[str]],
    answer_index: Mapping[str, int],
) -> dict[str, MetricResult]:
    """`mcq_accuracy` (a parse failure counts as wrong) and `parse_failure_rate`.

    Both `per_sample` tuples follow the key order of `predictions`; every predicted id needs its
    choices and answer index (extra ids there are ignored).
    """
    check_ids(predictions, choices, "choices")
    check_ids(predictions, answer_index, "answer index")
    for qid in predictions:
        if not 0 <= answer_index[qid] < len(choices[qid]):
            raise InputError(
                f"answer index {answer_index[qid]} out of range for {len(choices[qid])} choices (id {qid!r}): "
                "the index counts choices from 0; fix the index or the choices"
            )
    parsed = [parse_choice(predictions[qid], choices[qid]) for qid in predictions]
    correct = tuple(1.0 if p == answer_index[qid] else 0.0 for p, qid in zip(parsed, predictions))
    failed = tuple(1.0 if p is None else 0.0 for p in parsed)
    return {
        "mcq_accuracy": _result("mcq_accuracy", correct),
        "parse_failure_rate": _result("parse_failure_rate", failed),
    }


def _result(name: str, per_sample: tuple[float, ...]) -> MetricResult:
    return mean_result(per_sample, {"name": name, "reference": _REFERENCE, "version": VERSION})
