"""The multiple-choice parser, rule by rule, and mcq_accuracy / parse_failure_rate by hand."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vlmperf.errors import InputError
from vlmperf.scoring.mcq import explain_choice, mcq_accuracy, parse_choice

CHOICES = ["dog", "cat", "light blue", "blue"]

# output, expected index, rule that decides it
TABLE = [
    # 1. only letters and connectives: ambiguous
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
    ("b", None, "no_match"),  # lower case is not a letter
    # 3. a leading letter with a mark
    ("B. cat", 1, "leading_letter"),
    ("B.cat", 1, "leading_letter"),  # lmms-eval's `pred[1] == "."` accepts this too
    ("(C) light blue", 2, "leading_letter"),
    ("B) cat", 1, "leading_letter"),
    ("B: cat", 1, "leading_letter"),
    ("A. dog. The answer is B.", 0, "leading_letter"),  # the leading letter wins, as in LLaVA
    ("A dog", 0, "contains_choice"),  # no mark after "A": the article, not a letter
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


def test_letters_limited_to_the_choices():
    assert parse_choice("C", ["yes", "no"]) is None
    assert parse_choice("B", ["yes", "no"]) == 1
    assert parse_choice("E", ["a1", "a2", "a3", "a4", "a5"]) == 4


def test_duplicate_choice_texts_are_ambiguous():
    assert explain_choice("yes", ["yes", "yes", "no"]) == (None, "two_choices")
    assert explain_choice("I say yes", ["yes", "yes", "no"]) == (None, "two_choices")


def test_empty_choice_text_never_matches():
    assert explain_choice("anything", ["", "other"]) == (None, "no_match")


def _lmms_eval_correct(pred: str, answer: int, n_choices: int) -> bool:
    """lmms-eval scienceqa sqa_process_results, for the superset check."""
    target = "ABCDEFGHIJ"[answer]
    if pred == target:
        return True
    if len(pred) >= 2 and pred[0].isupper() and pred[1] == ".":
        return pred[0] == target
    return False


_fragments = st.sampled_from(["A", "B", "C", "D", "E", ".", ". ", "(", ")", " ", "dog", "cat", "The answer is ", "x"])


@settings(max_examples=500, derandomize=True, deadline=None)
@given(st.lists(_fragments, max_size=6).map("".join), st.integers(0, 3))
def test_everything_lmms_eval_scores_right_is_right_here(output, answer):
    if _lmms_eval_correct(output, answer, len(CHOICES)):
        assert parse_choice(output, CHOICES) == answer


# ---------------------------------------------------------------------------------------------
# mcq_accuracy


def test_mcq_accuracy_by_hand():
    predictions = {
        "q1": "A",  # correct
        "q2": "The answer is C",  # parsed, wrong
        "q3": "no idea",  # failure
        "q4": "(B)",  # correct
        "q5": "A or B",  # failure
        "q6": "cat",  # correct
    }
    choices = {qid: CHOICES for qid in predictions}
    answer = {"q1": 0, "q2": 1, "q3": 0, "q4": 1, "q5": 0, "q6": 1, "extra": 0}
    out = mcq_accuracy(predictions, choices, answer)
    assert set(out) == {"mcq_accuracy", "parse_failure_rate"}
    acc, fail = out["mcq_accuracy"], out["parse_failure_rate"]
    assert acc.per_sample == (1.0, 0.0, 0.0, 1.0, 0.0, 1.0)
    assert acc.value == pytest.approx(3 / 6)
    assert fail.per_sample == (0.0, 0.0, 1.0, 0.0, 1.0, 0.0)
    assert fail.value == pytest.approx(2 / 6)
    assert acc.ci95 is not None and acc.ci95[0] <= acc.value <= acc.ci95[1]
    assert acc.implementation["name"] == "mcq_accuracy"
    assert fail.implementation["name"] == "parse_failure_rate"
    assert acc.implementation["version"]


def test_mcq_accuracy_small_set_has_no_interval():
    out = mcq_accuracy({"q": "B"}, {"q": ["x", "y"]}, {"q": 1})
    assert out["mcq_accuracy"].value == 1.0
    assert out["parse_failure_rate"].value == 0.0
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
