"""Multiple choice: lmms-eval's ScienceQA rule against a transcription of it, and the lenient parser.

lmms-eval's `sqa_process_results` is transcribed in tests/data/mcq/reference_sqa.py (pinned sha there);
`mcq_accuracy` must equal it exactly on any string, so the property tests compare with it on generated
outputs that reach each of its branches, and every hand-written vector is checked against it too, so a
wrong expectation here cannot hide a wrong scorer.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vlmperf.errors import InputError
from vlmperf.scoring.mcq import (
    LMMS_EVAL_COMMIT,
    explain_choice,
    lmms_eval_choice,
    mcq_accuracy,
    parse_choice,
)

from fixtures.oracles import load_oracle

reference = load_oracle("mcq/reference_sqa.py")

KELVIN = "\u212a"  # KELVIN SIGN: isupper() is True and lower() is the ASCII "k"
CHOICES = ["dog", "cat", "light blue", "blue"]
ELEVEN = [f"c{i}" for i in range(11)]  # A..K, so that K (index 10) is a choice letter


def oracle(output: str, choices: list[str], answer: int) -> float:
    return reference.score(output, choices, answer)


def oracle_index(output: str, choices: list[str]) -> int | None:
    """The one answer index the reference scores right, or None when it scores every index wrong."""
    right = [a for a in range(len(choices)) if oracle(output, choices, a) == 1.0]
    assert len(right) <= 1, "the reference reads at most one letter"
    return right[0] if right else None


# ---------------------------------------------------------------------------------------------
# lmms-eval's rule by hand. Each row: output, number of choices, the index the rule reads (None:
# a parse failure), and why, derived from p = output.strip(), test 1 `p.lower() == target`, test 2
# `len(p) >= 2 and p[0].isupper() and p[1] == "."` then `p[0].lower() == target`.

LMMS_EVAL_TABLE = [
    ("B", 4, 1),  # test 1: "b" == "b"
    ("b", 4, 1),  # test 1: lower-case, "b" == "b" (vlmperf v1 called this a failure)
    ("  b\n", 4, 1),  # stripped first, then test 1
    ("\u3000C\t", 4, 2),  # IDEOGRAPHIC SPACE is whitespace to str.strip(): "C", test 1
    ("B.", 4, 1),  # test 1: "b." != "b"; test 2: "B" upper, "." second, "b" == "b"
    ("B. cat", 4, 1),  # test 2, anything may follow the period
    ("B.cat", 4, 1),  # test 2, no space needed
    ("A. The answer is B", 4, 0),  # test 2 reads A; the rest is never looked at
    ("b.", 4, None),  # test 1: "b." is not "b"; test 2: "b" is not upper-case
    ("b. cat", 4, None),  # same
    ("(B)", 4, None),  # test 1: "(b)"; test 2: "(" is not upper-case
    ("B)", 4, None),  # test 2: ")" is not "."
    ("B:", 4, None),  # same with ":"
    ("B cat", 4, None),  # test 2: " " is not "."
    ("The answer is B", 4, None),  # test 2: "h" is not "."
    ("cat", 4, None),  # a choice's text is never read
    ("", 4, None),  # test 1: "" is no letter; test 2: too short
    ("   ", 4, None),  # strips to ""
    ("E", 4, None),  # test 1 would hold for target "e", but 4 choices have no E
    ("E.", 4, None),  # test 2 likewise
    ("E", 5, 4),  # with 5 choices E is one
    ("AB", 4, None),  # test 1: "ab" is two characters; test 2: "B" is not "."
    ("..", 4, None),  # test 2: "." is not upper-case
    (KELVIN, 11, 10),  # test 1: KELVIN.lower() == "k", the 11th letter
    (KELVIN + ". c10", 11, 10),  # test 2: KELVIN.isupper() and its lower() is "k"
    (KELVIN, 4, None),  # K is not among A-D
    ("k", 11, 10),  # test 1
    ("\u212b", 4, None),  # ANGSTROM SIGN lower-cases to "å", no ASCII letter
    ("É. cat", 5, None),  # test 2 holds up to the letter: "é" is no target
    ("\u0130.", 9, None),  # "İ".lower() is "i" plus a combining dot: two characters, never "i"
    ("\u24b6.", 4, None),  # CIRCLED A is upper-case, lower() is "ⓐ"
    ("\u01c5.", 4, None),  # a title-case letter is not isupper()
]


@pytest.mark.parametrize(("output", "n", "index"), LMMS_EVAL_TABLE)
def test_lmms_eval_table(output, n, index):
    assert lmms_eval_choice(output, n) == index
    assert oracle_index(output, [f"c{i}" for i in range(n)]) == index


def test_lmms_eval_needs_letters():
    with pytest.raises(ValueError):
        lmms_eval_choice("A", 0)
    with pytest.raises(ValueError):
        lmms_eval_choice("A", 27)
    assert lmms_eval_choice("Z", 26) == 25


# ---------------------------------------------------------------------------------------------
# lmms-eval's rule against the reference on generated outputs

_UPPER = list("ABCDEFKZ")
_LOWER = list("abcdefkz")
# upper-case outside ASCII (the Kelvin sign lower-cases to "k"; the others to no ASCII letter, "İ" to
# two characters), not upper-case ("ǅ" title case, "ß", "é"), and marks
_ODD = [KELVIN, "\u212b", "É", "Σ", "\u0130", "\u24b6", "\u01c5", "ß", "é", "1", "?", "(", ")", ".", ":"]
_SPACE = st.sampled_from(["", " ", "  ", "\n", "\t", "\u3000", "\u00a0", " \n "])
_LETTERISH = st.sampled_from(_UPPER + _LOWER + _ODD)
_TAIL = st.sampled_from(["", " cat", "cat", " The answer is B", ".", " (B)", "\n", " a dog"])


def _wrap(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.tuples(_SPACE, inner, _SPACE).map("".join)


def _then(first: st.SearchStrategy[str], *rest: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return _wrap(st.tuples(first, *rest).map("".join))


# One stratum per kind of input, each drawn about as often as the others, so that 500 examples reach
# every branch of the reference (test_the_property_test_reaches_every_branch checks it).
_OUTPUTS = st.one_of(
    _wrap(st.sampled_from(_UPPER)),  # "B": test 1
    _wrap(st.sampled_from(_LOWER)),  # "b": test 1, lower case
    _wrap(st.sampled_from(_ODD)),  # one odd character: test 1 reads only the Kelvin sign
    _then(st.sampled_from(_UPPER), st.just("."), _TAIL),  # "B." + text: test 2
    _then(st.sampled_from(_LOWER + _ODD), st.just("."), _TAIL),  # "b.", "?.", "K.": test 2 or nothing
    _then(st.sampled_from(_ODD[1:6]), st.just("."), _TAIL),  # "É.": test 2 holds, no letter to read
    _then(st.just(KELVIN), st.sampled_from(["", "", "", ".", ". c10", ".x", ")"])),  # the Kelvin sign, each way
    _then(_LETTERISH, st.sampled_from([")", ":", " ", ",", ".."]), _TAIL),  # near misses: "B)", "B:"
    _then(st.just("("), _LETTERISH, st.just(")"), _TAIL),  # "(B)"
    _wrap(st.sampled_from(["", "cat", "The answer is B", "a", "A or B", "light blue"])),  # empty, text
    st.text(max_size=6),  # anything at all
    st.text(alphabet=st.sampled_from(_UPPER + _LOWER + _ODD + [" ", "\n"]), max_size=4),
)
_N_ANSWER = st.integers(1, 26).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n - 1)))


_SEEN: list[set[str]] = []  # where test_the_property_test_reaches_every_branch collects _branch labels


@settings(max_examples=500, derandomize=True, deadline=None)
@given(_OUTPUTS, _N_ANSWER)
def test_mcq_accuracy_is_the_reference_on_any_output(output, n_answer):
    n, answer = n_answer
    choices = [f"c{i}" for i in range(n)]
    for seen in _SEEN:
        seen.update(_branch(output, n, answer))
    result = mcq_accuracy({"q": output}, {"q": choices}, {"q": answer})
    assert result["mcq_accuracy"].per_sample == (oracle(output, choices, answer),)
    # the letter read is the one answer index the reference scores right, whatever the answer, with
    # these choices and with all 26 (so that every letter generated, K of the Kelvin sign too, is one)
    assert lmms_eval_choice(output, n) == oracle_index(output, choices)
    assert lmms_eval_choice(output, 26) == oracle_index(output, [f"c{i}" for i in range(26)])
    # a parse failure is exactly "the reference scores every answer index wrong"
    assert result["parse_failure_rate"].value == (1.0 if oracle_index(output, choices) is None else 0.0)


@settings(max_examples=100, derandomize=True, deadline=None)
@given(st.lists(st.tuples(_OUTPUTS, _N_ANSWER), min_size=1, max_size=12))
def test_mcq_accuracy_value_is_the_reference_mean(samples):
    predictions = {f"q{i}": out for i, (out, _) in enumerate(samples)}
    choices = {f"q{i}": [f"c{j}" for j in range(n)] for i, (_, (n, _)) in enumerate(samples)}
    answers = {f"q{i}": a for i, (_, (_, a)) in enumerate(samples)}
    expected = [oracle(predictions[q], choices[q], answers[q]) for q in predictions]
    result = mcq_accuracy(predictions, choices, answers)["mcq_accuracy"]
    assert result.per_sample == tuple(expected)
    assert result.value == sum(expected) / len(expected)


def _branch(output: str, n: int, answer: int) -> set[str]:
    """The kinds of input the property tests above must see, named after the reference's branches.

    Test 1 is `p.lower() == target`, test 2 `len(p) >= 2 and p[0].isupper() and p[1] == "."`; the
    labels are worked out from `p`, the reference's answer (oracle) and what the reference reads.
    """
    p = output.strip()
    choices = [f"c{i}" for i in range(n)]
    read = oracle_index(output, choices)
    right = oracle(output, choices, answer) == 1.0
    test2 = len(p) >= 2 and p[0].isupper() and p[1] == "."
    labels = set()
    if len(p) == 1:
        kind = "upper" if "A" <= p <= "Z" else "lower" if "a" <= p <= "z" else "kelvin" if p == KELVIN else "other"
        labels.add(f"lone {kind} " + ("read" if read is not None else "not read"))
    if test2:
        kind = "ascii" if "A" <= p[0] <= "Z" else "kelvin" if p[0] == KELVIN else "non-ascii"
        labels.add(f"period {kind} " + ("read" if read is not None else "not read"))
        labels.add("period with text" if len(p) > 2 and read is not None else "period alone")
    if len(p) >= 2 and p[1] == "." and "a" <= p[0] <= "z":
        labels.add("lower-case period")
    if p[:1] == "(" and p[2:3] == ")":
        labels.add("(X)")
    if len(p) >= 2 and "A" <= p[0] <= "Z" and p[1] == ")":
        labels.add("X)")
    if output != p and read is not None:
        labels.add("surrounding whitespace, read")
    if output == "":
        labels.add("empty")
    elif p == "":
        labels.add("only whitespace")
    if len(p.split()) >= 2 and read is None:
        labels.add("text")
    labels.add("right" if right else "wrong, read" if read is not None else "wrong, not read")
    return labels


_REACHED = [
    "lone upper read", "lone upper not read", "lone lower read", "lone lower not read",
    "lone kelvin read", "lone kelvin not read", "lone other not read",
    "period ascii read", "period ascii not read", "period kelvin read", "period non-ascii not read",
    "period with text", "period alone", "lower-case period", "(X)", "X)",
    "surrounding whitespace, read", "empty", "only whitespace", "text",
    "right", "wrong, read", "wrong, not read",
]  # fmt: skip


def test_the_property_test_reaches_every_branch():
    # a guard on `_OUTPUTS`: the property test is only as good as what it generates. It is run again
    # here (derandomized, so on the same 500 examples) with its inputs labelled.
    seen: set[str] = set()
    _SEEN.append(seen)
    try:
        test_mcq_accuracy_is_the_reference_on_any_output()
    finally:
        _SEEN.remove(seen)
    assert [label for label in _REACHED if label not in seen] == []


def _cased() -> list[str]:
    """Every code point whose case Python knows of, and all of ASCII.

    Any other character c has c.lower() == c, is not an ASCII letter and is not upper-case, so the
    reference reads nothing from c or "c." (test 1 compares c with an ASCII letter, test 2 needs
    isupper): these are the only characters whose readings can differ.
    """
    chars = (chr(i) for i in range(0x110000))
    return [c for c in chars if c.isascii() or c.isupper() or c.lower() != c or c.upper() != c]


def test_every_cased_character_is_read_as_the_reference_reads_it():
    choices = [f"c{i}" for i in range(26)]
    for c in _cased():
        for output in (c, c + ".", c + ". c", " " + c + ".x "):
            read = oracle_index(output, choices)
            assert lmms_eval_choice(output, 26) == read, repr(output)
            assert read is None or parse_choice(output, choices) == read, repr(output)


def test_the_docstring_claims_about_python_case_tables():
    # mcq.py's docstring: str.lower() never shortens a string (so tests 1 and 2 never both apply), and
    # the only non-ASCII character that lower-cases to an ASCII letter is the Kelvin sign (in this
    # Python's tables: if a new Unicode version adds one, the code still decides per character, and
    # this test says the docstring needs a word).
    chars = [chr(i) for i in range(0x110000)]
    assert all(len(c.lower()) >= 1 for c in chars)
    ascii_letters = set("abcdefghijklmnopqrstuvwxyz")
    assert [c for c in chars if not c.isascii() and c.lower() in ascii_letters] == [KELVIN]


# ---------------------------------------------------------------------------------------------
# the lenient parser accepts everything lmms-eval accepts

_CHOICE_TEXTS = st.sampled_from(["a", "b", "k", "cat", "dog", "blue", "light blue", "B. cat", "(A)", "E", ""])


@settings(max_examples=500, derandomize=True, deadline=None)
@given(_OUTPUTS, st.integers(1, 26).flatmap(lambda n: st.lists(_CHOICE_TEXTS, min_size=n, max_size=n)))
def test_everything_lmms_eval_scores_right_the_lenient_parser_parses_right(output, choices):
    read = oracle_index(output, choices)
    if read is not None:
        assert parse_choice(output, choices) == read
    # so, per sample, lenient accuracy >= lmms-eval's and lenient failure <= lmms-eval's
    answers = {"q": read if read is not None else 0}
    out = mcq_accuracy({"q": output}, {"q": choices}, answers)
    assert out["mcq_accuracy_lenient"].value >= out["mcq_accuracy"].value
    assert out["parse_failure_rate_lenient"].value <= out["parse_failure_rate"].value


# ---------------------------------------------------------------------------------------------
# the lenient parser, rule by rule. Each row: output, expected index, rule that decides it.

TABLE = [
    # 1. only capital letters and connectives: ambiguous
    ("A or B", None, "two_letters"),
    ("(A) or (B)", None, "two_letters"),
    ("A, B", None, "two_letters"),
    ("A/B", None, "two_letters"),
    ("A and C.", None, "two_letters"),
    ("A & D", None, "two_letters"),
    ("(A)/(C)", None, "two_letters"),
    # 2. the whole output is a letter
    ("B", 1, "letter"),
    ("B.", 1, "letter"),
    ("(B)", 1, "letter"),
    ("B)", 1, "letter"),
    ("B:", 1, "letter"),
    ("  D \n", 3, "letter"),
    ("E", None, "no_match"),  # out of range for 4 choices: not guessed
    ("b", 1, "letter"),  # a lone lower-case letter, as lmms-eval reads it
    (" c\n", 2, "letter"),  # stripped first
    ("e", None, "no_match"),  # a lower-case letter beyond the choices is not guessed either
    ("b.", None, "no_match"),  # lower case only as the whole output (lmms-eval reads nothing here)
    ("(b)", None, "no_match"),  # same
    # 3. a leading letter with a mark
    ("B. cat", 1, "leading_letter"),
    ("B.cat", 1, "leading_letter"),  # lmms-eval's `pred[1] == "."` accepts this too
    ("(C) light blue", 2, "leading_letter"),
    ("B) cat", 1, "leading_letter"),
    ("B: cat", 1, "leading_letter"),
    ("A. dog. The answer is B.", 0, "leading_letter"),  # the leading letter wins, as in LLaVA and lmms-eval
    ("A dog", 0, "contains_choice"),  # no mark after "A": the article, not a letter
    ("a cat", 1, "contains_choice"),  # "a" inside an output is the article
    # 4. answer phrases
    ("Answer: B", 1, "answer_phrase"),
    ("answer: (D)", 3, "answer_phrase"),
    ("The answer is B", 1, "answer_phrase"),
    ("The answer is B.", 1, "answer_phrase"),
    ("The correct answer is (C).", 2, "answer_phrase"),
    ("The answer is: A", 0, "answer_phrase"),
    ("Answer - B", 1, "answer_phrase"),
    ("ANSWER IS D", 3, "answer_phrase"),
    ("I think the answer is B because cats purr.", 1, "answer_phrase"),
    ("The answer is B. Final answer: B", 1, "answer_phrase"),
    ("The answer is B, no wait, the answer is C", None, "conflicting_letters"),
    ("The answer is Blue", 3, "contains_choice"),  # "B" followed by a letter is a word, not a letter
    ("The answer is E", None, "no_match"),  # out of range
    ("The answer is b", None, "no_match"),  # lower case is not a letter inside an output
    # 5. a choice's text
    ("cat", 1, "choice_text"),
    ("Cat", 1, "choice_text"),
    ("  cat. ", 1, "choice_text"),
    ('"light blue"', 2, "choice_text"),
    ("Light   Blue", 2, "choice_text"),
    # 6. the output contains one choice's text
    ("It is a cat.", 1, "contains_choice"),
    ("It is light blue", 2, "contains_choice"),  # "blue" only inside "light blue"
    ("The sky is blue today", 3, "contains_choice"),
    ("blue, not light blue", None, "two_choices"),
    ("a dog and a cat", None, "two_choices"),
    # 7. nothing
    ("category", None, "no_match"),  # whole words only
    ("I don't know", None, "no_match"),
    ("", None, "no_match"),
]


@pytest.mark.parametrize(("output", "index", "rule"), TABLE)
def test_parse_table(output, index, rule):
    assert explain_choice(output, CHOICES) == (index, rule)
    assert parse_choice(output, CHOICES) == index
    # whatever lmms-eval reads from the same output, the lenient parser reads too
    read = oracle_index(output, CHOICES)
    assert read is None or read == index


def test_kelvin_sign_is_the_letter_k():
    # KELVIN.lower() == "k", so lmms-eval scores a lone Kelvin sign, and one followed by ".", right
    # for K (index 10 of 11 choices); the lenient parser reads it as K by every letter rule.
    assert explain_choice(KELVIN, ELEVEN) == (10, "letter")
    assert explain_choice(KELVIN + ". c10", ELEVEN) == (10, "leading_letter")
    assert explain_choice("The answer is " + KELVIN, ELEVEN) == (10, "answer_phrase")
    assert explain_choice(KELVIN, CHOICES) == (None, "no_match")  # K beyond D: not guessed


def test_lone_lower_case_letter_wins_over_a_choice_text():
    # lmms-eval reads "a" as the letter A whatever the choices say; so does the lenient parser,
    # even when the second choice's text is "a" (rule 2 comes before rule 5).
    assert oracle_index("a", ["b", "a"]) == 0
    assert explain_choice("a", ["b", "a"]) == (0, "letter")
    # beyond the choices a lone letter is no letter, and the choice's text decides
    assert explain_choice("c", ["b", "c"]) == (1, "choice_text")


def test_letters_limited_to_the_choices():
    assert parse_choice("C", ["yes", "no"]) is None
    assert parse_choice("B", ["yes", "no"]) == 1
    assert parse_choice("E", ["a1", "a2", "a3", "a4", "a5"]) == 4


def test_duplicate_choice_texts_are_ambiguous():
    assert explain_choice("yes", ["yes", "yes", "no"]) == (None, "two_choices")
    assert explain_choice("I say yes", ["yes", "yes", "no"]) == (None, "two_choices")


def test_empty_choice_text_never_matches():
    assert explain_choice("anything", ["", "other"]) == (None, "no_match")


# ---------------------------------------------------------------------------------------------
# mcq_accuracy


def test_mcq_accuracy_by_hand():
    # per output: what lmms-eval's rule reads (target = the answer's letter), then the lenient parser
    predictions = {
        "q1": "A",  # answer A. lmms-eval: test 1 reads A, right. lenient: letter A, right
        "q2": "The answer is C",  # answer B. lmms-eval: nothing, failure. lenient: answer_phrase C, wrong
        "q3": "no idea",  # answer A. lmms-eval: nothing, failure. lenient: no_match, failure
        "q4": "(B)",  # answer B. lmms-eval: nothing, failure. lenient: letter B, right
        "q5": "A or B",  # answer A. lmms-eval: nothing, failure. lenient: two_letters, failure
        "q6": "cat",  # answer B. lmms-eval: nothing, failure. lenient: choice_text B, right
        "q7": "b",  # answer B. lmms-eval: test 1 reads B, right. lenient: letter B, right
        "q8": "D. blue",  # answer A. lmms-eval: test 2 reads D, wrong. lenient: leading_letter D, wrong
    }
    # so lmms-eval: right q1 q7 (2/8), failures q2-q6 (5/8); lenient: right q1 q4 q6 q7 (4/8), failures q3 q5 (2/8)
    choices = {qid: CHOICES for qid in predictions}
    answer = {"q1": 0, "q2": 1, "q3": 0, "q4": 1, "q5": 0, "q6": 1, "q7": 1, "q8": 0, "extra": 0}
    out = mcq_accuracy(predictions, choices, answer)
    assert list(out) == ["mcq_accuracy", "parse_failure_rate", "mcq_accuracy_lenient", "parse_failure_rate_lenient"]
    assert out["mcq_accuracy"].per_sample == (1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0)
    assert out["mcq_accuracy"].value == pytest.approx(2 / 8)
    assert out["parse_failure_rate"].per_sample == (0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0)
    assert out["parse_failure_rate"].value == pytest.approx(5 / 8)
    assert out["mcq_accuracy_lenient"].per_sample == (1.0, 0.0, 0.0, 1.0, 0.0, 1.0, 1.0, 0.0)
    assert out["mcq_accuracy_lenient"].value == pytest.approx(4 / 8)
    assert out["parse_failure_rate_lenient"].per_sample == (0.0, 0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0)
    assert out["parse_failure_rate_lenient"].value == pytest.approx(2 / 8)
    # the hand derivation agrees with the reference
    assert out["mcq_accuracy"].per_sample == tuple(oracle(predictions[q], CHOICES, answer[q]) for q in predictions)
    acc = out["mcq_accuracy"]
    assert acc.ci95 is not None and acc.ci95[0] <= acc.value <= acc.ci95[1]


def test_mcq_accuracy_names_its_references():
    out = mcq_accuracy({"q": "B"}, {"q": ["x", "y"]}, {"q": 1})
    source = f"EvolvingLMMs-Lab/lmms-eval lmms_eval/tasks/scienceqa/utils.py@{LMMS_EVAL_COMMIT}"
    assert LMMS_EVAL_COMMIT == "75571cfe0fa36ca5ec2e6aa2bb268f9d38295af3"
    assert LMMS_EVAL_COMMIT in Path(reference.__file__).read_text()  # the oracle is a transcription of the same commit
    for name in ("mcq_accuracy", "parse_failure_rate"):
        assert out[name].implementation == {
            "name": name, "rule": "lmms-eval sqa_process_results", "source": source, "version": "2",
        }  # fmt: skip
    for name in ("mcq_accuracy_lenient", "parse_failure_rate_lenient"):
        # version 1 was this parser reported as mcq_accuracy; 2 reads a lone "b" and the Kelvin sign
        assert out[name].implementation == {"name": name, "rule": "vlmperf lenient parser", "version": "2"}


def test_mcq_accuracy_small_set_has_no_interval():
    out = mcq_accuracy({"q": "B"}, {"q": ["x", "y"]}, {"q": 1})
    assert out["mcq_accuracy"].value == 1.0
    assert out["parse_failure_rate"].value == 0.0
    assert out["mcq_accuracy_lenient"].value == 1.0
    assert out["parse_failure_rate_lenient"].value == 0.0
    assert out["mcq_accuracy"].ci95 is None


def test_mcq_accuracy_bad_input():
    with pytest.raises(InputError, match="no predictions"):
        mcq_accuracy({}, {}, {})
    with pytest.raises(InputError, match="q2"):
        mcq_accuracy({"q1": "A", "q2": "B"}, {"q1": ["x", "y"]}, {"q1": 0, "q2": 1})
    with pytest.raises(InputError, match="q2"):
        mcq_accuracy({"q1": "A", "q2": "B"}, {"q1": ["x", "y"], "q2": ["x", "y"]}, {"q1": 0})
    with pytest.raises(InputError, match="out of range"):
        mcq_accuracy({"q1": "A"}, {"q1": ["x", "y"]}, {"q1": 2})
    with pytest.raises(InputError, match="at most 26"):
        mcq_accuracy({"q1": "A"}, {"q1": [str(i) for i in range(27)]}, {"q1": 0})
