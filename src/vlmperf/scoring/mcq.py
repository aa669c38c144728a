"""Multiple-choice accuracy (ScienceQA-img and the like): lmms-eval's rule, and vlmperf's lenient parser.

Two pairs of figures, each accuracy with its own failure rate beside it, so that a change in answer
*format* cannot pass for a change in quality:

- `mcq_accuracy`, `parse_failure_rate`: lmms-eval's ScienceQA rule (`lmms_eval_choice`). Under that
  name the figure must equal lmms-eval's `scienceqa_img` on the same outputs, so it is a
  reimplementation of the reference, not an improvement on it.
- `mcq_accuracy_lenient`, `parse_failure_rate_lenient`: vlmperf's own parser (`parse_choice`,
  `explain_choice`), which also reads "(B)", "The answer is B", a choice's text and the like. It
  is a superset of lmms-eval's rule (below), so the lenient accuracy is never lower per sample.

lmms-eval's rule
----------------
Reference: EvolvingLMMs-Lab/lmms-eval, lmms_eval/tasks/scienceqa/utils.py, `sqa_process_results`
(a comment there: "how llava parse it"), pinned at commit 75571cfe0fa36ca5ec2e6aa2bb268f9d38295af3
(main). The rule was last changed by commit 8ada80501d0e284abc2821d3a2454e1944fc133c (PR #723,
2025-07-04, "fix a bug in post processing stage of ScienceQA"); the file is byte-identical from there
to main (blob 65666a91), and `git tag --contains 8ada8050` starts at v0.3.5 (v0.3.5 to v0.7.2 all hold
it), so this is the figure of lmms-eval v0.3.5 and later. Earlier rules, whose figures are not this one:
- f06f8e67 (2024-07-30, "Fix result processing code for ScienceQA"; first tag v0.2.2, to v0.3.4)
  stripped and lower-cased the prediction before both tests, so the "X." test could never hold
  (a lower-cased character is not upper-case) and only a lone letter, in either case, was right.
- before it (v0.2.0.post1 and earlier) the function stripped and lower-cased nothing: "B" and
  "B. ..." were right, "b" was not.
In v0.3.4, v0.3.5 and main the harness's `ConfigurableTask.process_results` also strips a
generated output before the task's function strips it again; `str.strip()` is idempotent, so the one
strip here is the same.

The choices are named by the letters A, B, C, ... (lmms-eval: `chr(ord("A") + i)`), so at most 26.
With `p = output.strip()` (Python's `str.strip()`: any Unicode whitespace), the rule *reads a letter*
X when, using Python's own `str.lower()` and `str.isupper()`:

1. lone letter: `p` is one character and `p.lower() == X.lower()`. That is "X" or "x", and any other
   character that Python lower-cases to an ASCII letter: in Python's tables (3.11, Unicode 14.0; the
   tests check every code point) only the Kelvin sign U+212A, whose `lower()` is "k", so it reads
   as K. The code decides per character with `str.lower()`, so it holds on other tables too.
2. period letter: `len(p) >= 2`, `p[1] == "."`, `p[0].isupper()` and `p[0].lower() == X.lower()`:
   "X." followed by anything ("B.", "B. cat", "B.cat"), or the Kelvin sign then ".". Other upper-case
   characters ("É", "Σ", "Ⓐ") lower-case to no ASCII letter ("İ" even to two characters), and "b."
   is not upper-case: nothing is read from them.

The two cases cannot both hold (`str.lower()` never shortens a string, so case 1 needs exactly one
character and case 2 at least two), so at most one letter is read. A sample is right when the letter
read is the answer's; a *parse failure* when no letter among the first `len(choices)` is read: nothing
at all (empty output, "(B)", "B)", "b.", "The answer is B", "cat") or a letter beyond the choices
("E." with four). This equals `sqa_process_results` on every string, since that function scores 1.0
exactly when case 1 or case 2 reads the target letter. The task's yaml lists `ignore_case` and
`ignore_punctuation` under `exact_match`; the harness drops those options for a task with its own
`process_results`, so they are not applied here either.

The lenient parser
------------------
Rules, first match wins. Letters are the first len(choices) capitals (A-E for ScienceQA); a letter
outside that range is ignored by the letter rules, never guessed. Before the rules, a character that
Python lower-cases to an ASCII letter (the Kelvin sign) is read as that letter's capital, as
lmms-eval's rule reads it. A lower-case letter is a letter only as the whole output ("b"), which
lmms-eval scores too; elsewhere it is too easily the article "a".

1. `two_letters`: the output is only capital letters and connectives ("A or B", "(A)/(C)", "A, B")
   -> ambiguous, failure.
2. `letter`: the whole output is one capital letter, optionally wrapped or followed by a mark
   ("B", "B.", "(B)", "B)", "B:"), or is one lower-case letter ("b").
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

Superset of lmms-eval: whenever lmms-eval's rule reads a choice letter (case 1 or 2 above), rule 2
or 3 here reads the same letter first (rule 1 cannot match such an output), so every output
lmms-eval scores right is right here and every lenient parse failure is an lmms-eval parse failure.
A lone lower-case letter is read as that letter even when another choice's text is that letter
(output "a" with choices ["b", "a"] is A, index 0), as lmms-eval reads it. The outputs only this
parser reads are those lmms-eval reads nothing from: "(B)", "B)", "B:", "The answer is B", a
choice's text, ...; where lmms-eval reads a wrong letter ("A. The answer is B"), so does this parser.

LLaVA's eval_science_qa.py (haotian-liu/LLaVA) reads "X" and "X. " at the start, which rules 2-3
cover, then `re.findall(r"The answer is ([A-Z]).")`, which takes a capital followed by any
character: it reads "The answer is Blue" as B, where rule 4 here wants the letter to stand alone.
So this parser is not a superset of LLaVA's script; it is one of lmms-eval's rule.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping, Sequence

from vlmperf.errors import InputError
from vlmperf.scoring.result import MetricResult, check_ids, mean_result

LMMS_EVAL_COMMIT = "75571cfe0fa36ca5ec2e6aa2bb268f9d38295af3"
# "1" was the lenient parser, reported as `mcq_accuracy`; "2" is lmms-eval's rule under that name.
LMMS_EVAL_VERSION = "2"
# "2": a lone lower-case letter and the Kelvin sign are read as letters, as lmms-eval reads them.
LENIENT_VERSION = "2"
MAX_CHOICES = len(string.ascii_uppercase)

_LMMS_EVAL = {
    "rule": "lmms-eval sqa_process_results",
    "source": f"EvolvingLMMs-Lab/lmms-eval lmms_eval/tasks/scienceqa/utils.py@{LMMS_EVAL_COMMIT}",
    "version": LMMS_EVAL_VERSION,
}
_LENIENT = {"rule": "vlmperf lenient parser", "version": LENIENT_VERSION}

_ITEM = r"\(?[A-Z]\)?"
_TWO_LETTERS = re.compile(rf"^{_ITEM}(?:\s*(?:,|/|&|\bor\b|\band\b)\s*{_ITEM})+\s*\.?$")
_LETTER = re.compile(r"^\(?([A-Z])\)?[.:)]?$")
_LEADING = re.compile(r"^(?:([A-Z])\.|\(([A-Z])\)|([A-Z])[):](?=\s|$))")
_PHRASE = re.compile(r"(?i:answer)\s*(?:(?i:is)\s*:?|:|-)\s*\(?([A-Z])(?![A-Za-z0-9])")
_QUOTES = "\"'`“”‘’"


# ---------------------------------------------------------------------------------------------
# lmms-eval's rule


def lmms_eval_choice(output: str, n_choices: int) -> int | None:
    """The choice index lmms-eval's ScienceQA rule reads from `output`, or None (a parse failure).

    `sqa_process_results` only answers right/wrong against the target; reading the one letter it
    can accept turns that into an index, so the failure rate is defined by the same rule.
    """
    if not 0 < n_choices <= MAX_CHOICES:
        raise ValueError(f"lmms-eval names choices A-Z: 1 to {MAX_CHOICES} choices, got {n_choices}")
    read = _lmms_eval_read(output)
    letters = [chr(ord("A") + i).lower() for i in range(n_choices)]
    return letters.index(read) if read in letters else None


def _lmms_eval_read(output: str) -> str | None:
    """What lmms-eval compares with the lower-cased target letter, or None where it compares nothing.

    Its first test (`p.lower() == target`) can only hold for one character, since `str.lower()`
    never shortens a string; its second needs two or more. The value may be no letter ("é").
    """
    p = output.strip()
    if len(p) == 1:
        return p.lower()
    if len(p) >= 2 and p[0].isupper() and p[1] == ".":
        return p[0].lower()
    return None


# ---------------------------------------------------------------------------------------------
# the lenient parser


def _normalize_text(text: str) -> str:
    """Lower-case, collapse whitespace, drop surrounding quotes and a final period."""
    text = " ".join(text.lower().split())
    text = text.strip(_QUOTES).rstrip(".").strip(_QUOTES).strip()
    return text


def _fold_letters(text: str) -> str:
    """Non-ASCII characters that Python lower-cases to an ASCII letter (the Kelvin sign) as capitals.

    lmms-eval reads them as letters through `str.lower()`; the regexes below see only A-Z.
    Decided per character with Python's own tables, so no list of such characters is kept.
    """
    return "".join(_ascii_capital(char) if not char.isascii() else char for char in text)


def _ascii_capital(char: str) -> str:
    lower = char.lower()
    return lower.upper() if len(lower) == 1 and "a" <= lower <= "z" else char


def _letter_index(letter: str, n_choices: int) -> int | None:
    index = string.ascii_uppercase.index(letter)
    return index if index < n_choices else None


def _whole_letter(text: str) -> str | None:
    """Rule 2: the capital the whole output is, or the lone lower-case letter it is (lmms-eval's "b")."""
    match = _LETTER.match(text)
    if match:
        return match.group(1)
    if len(text) == 1 and "a" <= text <= "z":
        return text.upper()
    return None


def _leading_letter(text: str) -> str | None:
    """Rule 3: the capital the output starts with, marked as "B.", "(B)", "B)" or "B:"."""
    match = _LEADING.match(text)
    return next(group for group in match.groups() if group) if match else None


def explain_choice(output: str, choices: Sequence[str]) -> tuple[int | None, str]:
    """The parsed choice index (or None) and the name of the rule that decided it."""
    text = _fold_letters(output.strip())
    n = len(choices)
    if _TWO_LETTERS.match(text):
        return None, "two_letters"
    for rule, letter in (("letter", _whole_letter(text)), ("leading_letter", _leading_letter(text))):
        if letter is not None and (index := _letter_index(letter, n)) is not None:
            return index, rule
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
    """lmms-eval's `mcq_accuracy` and `parse_failure_rate`, then the lenient parser's pair.

    A parse failure counts as wrong in both accuracies. Every `per_sample` tuple follows the key
    order of `predictions`; every predicted id needs its choices and answer index (extra ids there
    are ignored).
    """
    _check_inputs(predictions, choices, answer_index)
    answers = [answer_index[qid] for qid in predictions]
    strict = [lmms_eval_choice(predictions[qid], len(choices[qid])) for qid in predictions]
    lenient = [parse_choice(predictions[qid], choices[qid]) for qid in predictions]
    return {
        "mcq_accuracy": _result("mcq_accuracy", _hits(strict, answers), _LMMS_EVAL),
        "parse_failure_rate": _result("parse_failure_rate", _failures(strict), _LMMS_EVAL),
        "mcq_accuracy_lenient": _result("mcq_accuracy_lenient", _hits(lenient, answers), _LENIENT),
        "parse_failure_rate_lenient": _result("parse_failure_rate_lenient", _failures(lenient), _LENIENT),
    }


def _check_inputs(
    predictions: Mapping[str, str], choices: Mapping[str, Sequence[str]], answer_index: Mapping[str, int]
) -> None:
    check_ids(predictions, choices, "choices")
    check_ids(predictions, answer_index, "answer index")
    for qid in predictions:
        n = len(choices[qid])
        if n > MAX_CHOICES:
            raise InputError(
                f"{n} choices (id {qid!r}): choices are named by the letters A-Z, so at most {MAX_CHOICES}; "
                "split the question or drop choices"
            )
        if not 0 <= answer_index[qid] < n:
            raise InputError(
                f"answer index {answer_index[qid]} out of range for {n} choices (id {qid!r}): "
                "the index counts choices from 0; fix the index or the choices"
            )


def _hits(parsed: Sequence[int | None], answers: Sequence[int]) -> tuple[float, ...]:
    return tuple(1.0 if p == a else 0.0 for p, a in zip(parsed, answers, strict=True))


def _failures(parsed: Sequence[int | None]) -> tuple[float, ...]:
    return tuple(1.0 if p is None else 0.0 for p in parsed)


def _result(name: str, per_sample: tuple[float, ...], implementation: dict[str, str]) -> MetricResult:
    return mean_result(per_sample, {"name": name, **implementation})
