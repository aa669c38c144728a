"""VQA accuracy: every normalisation rule, the 10-answer formula, and agreement with the official code.

The official evaluation loop is transcribed in tests/data/vqa/reference_vqa_eval.py; each hand-written
vector below is also checked against it, so a wrong expectation here cannot hide a wrong scorer.
"""

from __future__ import annotations

import importlib.util
import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vlmperf.errors import InputError
from vlmperf.scoring.vqa import (
    CONTRACTIONS,
    normalize_answer,
    process_punctuation,
    question_accuracy,
    vqa_accuracy,
)

_REF_PATH = Path(__file__).parent / "data" / "vqa" / "reference_vqa_eval.py"
_spec = importlib.util.spec_from_file_location("reference_vqa_eval", _REF_PATH)
reference = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(reference)
_REF = reference.VQAEval(reference._QA({}), reference._QA({}))


def official_normalize(text: str) -> str:
    """The prediction path of the official loop, step for step."""
    text = text.replace("\n", " ").replace("\t", " ").strip()
    return _REF.processDigitArticle(_REF.processPunctuation(text))


def official_question(prediction: str, gts: list[str]) -> float:
    per_question, _ = reference.official_accuracy({"q": prediction}, {"q": gts})
    return per_question[0]


# ---------------------------------------------------------------------------------------------
# Normalisation, rule by rule. Each row: input, expected normalised form.

MARKS = [";", "/", "[", "]", '"', "{", "}", "(", ")", "=", "+", "\\", "_", "-", ">", "<", "@", "`", ",", "?", "!"]

PUNCTUATION_ROWS = (
    # between letters, no space next to the mark anywhere: replaced by a space
    [(f"x{p}y", "x y") for p in MARKS]
    # the mark has a space beside it somewhere in the text: every occurrence is deleted
    + [(f"x{p}y {p}z", "xy z") for p in MARKS]
    + [(f"x{p}y z{p} w", "xy z w") for p in MARKS]
    # a comma between digits anywhere: every mark is deleted
    + [(f"x{p}y 1,2", "xy 12") for p in MARKS]
)

PERIOD_AND_COMMA_ROWS = [
    ("1,000", "1000"),  # the comma between digits goes, the digits stay together
    ("12,345,678", "12345678"),
    ("x,y", "x y"),
    ("x, y", "x y"),
    ("1, 2", "1 2"),
    ("x,y 3,4", "xy 34"),
    ("3.14", "3.14"),  # period before a digit: kept
    (".5", ".5"),
    ("x.5", "x.5"),  # kept even after a letter: the look-behind is really a look-ahead
    ("end.", "end"),  # period not before a digit: deleted, not spaced
    ("5.", "5"),
    ("x.y", "xy"),
    ("u.s.a.", "usa"),
    ("1.5.", "1.5"),
    ("x" + "." * 40, "x" + "." * 8),  # at most 32 periods go (re.UNICODE passed as the count)
    ("x:y", "x:y"),  # ':' is not a mark in this version
    ("it's", "it's"),  # nor is the apostrophe
    ("yes!!", "yes"),
    ("what?", "what"),
    ("(yes)", "yes"),
    ("3:00 p.m.", "3:00 pm"),
]

NUMBER_ROWS = [
    ("none", "0"), ("zero", "0"), ("one", "1"), ("two", "2"), ("three", "3"), ("four", "4"),
    ("five", "5"), ("six", "6"), ("seven", "7"), ("eight", "8"), ("nine", "9"), ("ten", "10"),
    ("Three", "3"), ("TEN", "10"), ("one two", "1 2"),
    ("eleven", "eleven"), ("twenty", "twenty"), ("someone", "someone"), ("tens", "tens"),
]  # fmt: skip

ARTICLE_ROWS = [
    ("a dog", "dog"), ("an apple", "apple"), ("the cat", "cat"), ("The Cat", "cat"), ("A", ""),
    ("a the an", ""), ("dog a", "dog"), ("another", "another"), ("theatre", "theatre"), ("the two", "2"),
]  # fmt: skip

CONTRACTION_ROWS = [
    ("dont", "don't"), ("isnt", "isn't"), ("whats", "what's"), ("youre", "you're"), ("oclock", "o'clock"),
    ("twas", "'twas"), ("yall'll", "y'all'll"), ("y'allll", "y'all'll"), ("he'dve", "he'd've"),
    ("couldnt've", "couldn't've"), ("let's", "let's"), ("she's", "she's"), ("somebody'd", "somebodyd"),
    ("Dont", "don't"), ("i dont know", "i don't know"), ("isnt?", "isn't"),
    ("Im", "im"), ("Ive", "ive"), ("Id've", "id've"),  # the capitalised keys never match
    ("don't", "don't"), ("cannot", "cannot"),
]  # fmt: skip

CASE_AND_SPACE_ROWS = [
    ("YES", "yes"), ("Yes", "yes"), ("  yes  ", "yes"), ("yes\n", "yes"), ("red\tcar", "red car"),
    ("red\ncar", "red car"), ("red   car", "red car"), ("\t The  RED\ncar. ", "red car"), ("", ""),
]  # fmt: skip

ALL_ROWS = (
    PUNCTUATION_ROWS + PERIOD_AND_COMMA_ROWS + NUMBER_ROWS + ARTICLE_ROWS + CONTRACTION_ROWS + CASE_AND_SPACE_ROWS
)


@pytest.mark.parametrize(("text", "expected"), ALL_ROWS)
def test_normalize_answer(text, expected):
    assert normalize_answer(text) == expected
    assert official_normalize(text) == expected


def test_every_contraction_in_the_table():
    for key, value in CONTRACTIONS.items():
        expected = value if key == key.lower() else key.lower()
        assert normalize_answer(key) == expected == official_normalize(key)


def test_process_punctuation_keeps_case_and_does_not_split_words():
    # the ground-truth answers only see this step
    assert process_punctuation("Two Dogs!") == "Two Dogs "
    assert process_punctuation("Two Dogs !") == "Two Dogs "
    assert process_punctuation("x-ray") == "x ray"


# ---------------------------------------------------------------------------------------------
# The 10-answer formula. With m of the 10 answers equal to the prediction, the m subsets that leave
# a matching answer out see m-1 matches and the other 10-m see m:
#   m=0: 0                              m=1: (1*0 + 9*(1/3)) / 10 = 0.3
#   m=2: (2*(1/3) + 8*(2/3)) / 10 = 0.6  m=3: (3*(2/3) + 7*1) / 10 = 0.9   (not 1.0)
#   m>=4: every subset sees at least 3 matches: 1.0

EXPECTED_BY_MATCHES = {0: 0.0, 1: 0.3, 2: 0.6, 3: 0.9, 4: 1.0, 5: 1.0, 9: 1.0, 10: 1.0}


@pytest.mark.parametrize(("matches", "expected"), sorted(EXPECTED_BY_MATCHES.items()))
def test_ten_answer_formula(matches, expected):
    gts = ["yes"] * matches + ["no"] * (10 - matches)
    got = question_accuracy("yes", gts)
    assert got == pytest.approx(expected, abs=1e-12)
    assert got == official_question("yes", gts)


def test_matches_count_after_normalisation():
    gts = ["2 dogs"] * 3 + ["dogs"] * 7
    assert question_accuracy("Two dogs.", gts) == pytest.approx(0.9)
    assert question_accuracy("The dogs!", gts) == pytest.approx(1.0)


def test_ground_truth_quirk_identical_answers_are_not_processed():
    # all ten identical: the official code leaves them untouched, the prediction is normalised
    assert question_accuracy("two", ["two"] * 10) == 0.0 == official_question("two", ["two"] * 10)
    assert question_accuracy("two", ["2"] * 10) == 1.0
    assert question_accuracy("yes", ["yes."] * 10) == 0.0 == official_question("yes", ["yes."] * 10)
    # not all identical: punctuation only (no lower-casing, no number words) is applied
    gts = ["yes."] * 9 + ["yes!"]
    assert question_accuracy("yes", gts) == 1.0 == official_question("yes", gts)
    gts = ["Yes"] * 9 + ["yes"]
    assert question_accuracy("yes", gts) == pytest.approx(0.3) == official_question("yes", gts)


def test_question_accuracy_needs_answers():
    with pytest.raises(InputError):
        question_accuracy("yes", [])


# ---------------------------------------------------------------------------------------------
# vqa_accuracy


def test_vqa_accuracy_value_order_and_implementation():
    predictions = {"q3": "yes", "q1": "no", "q2": "Two"}
    answers = {"q1": ["no"] * 2 + ["yes"] * 8, "q2": ["2"] * 10, "q3": ["yes"] * 3 + ["no"] * 7, "unused": ["x"] * 10}
    result = vqa_accuracy(predictions, answers)
    assert result.per_sample == pytest.approx((0.9, 0.6, 1.0))  # predictions' key order
    assert result.value == pytest.approx((0.9 + 0.6 + 1.0) / 3)
    assert result.ci95 is None  # fewer than 5 samples
    assert result.implementation["name"] == "vqa_accuracy"
    assert result.implementation["reference"] == "VQA official evaluation (vqaEval.py) normalisation"
    assert result.implementation["version"]


def test_vqa_accuracy_interval():
    predictions = {f"q{i}": "yes" for i in range(20)}
    answers = {f"q{i}": ["yes"] * (i % 5) + ["no"] * (10 - i % 5) for i in range(20)}
    result = vqa_accuracy(predictions, answers)
    assert result.ci95 is not None
    assert result.ci95[0] <= result.value <= result.ci95[1]


def test_vqa_accuracy_bad_input():
    with pytest.raises(InputError, match="no predictions"):
        vqa_accuracy({}, {})
    with pytest.raises(InputError, match="q2"):
        vqa_accuracy({"q1": "yes", "q2": "no"}, {"q1": ["yes"] * 10})


# ---------------------------------------------------------------------------------------------
# Agreement with the official loop on generated sets that exercise the rules.

_WORDS = (
    ["yes", "no", "red", "dog", "cat", "stop", "coca cola", "x-ray", "3", "10", "2", "1,000", "3.5", "5.",
     "Yes", "RED", "Dog", "don't", "it's", "ma'am", "eleven"]
    + ["none", "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "Two"]
    + ["a", "an", "the", "The", "A"]
    + ["dont", "isnt", "whats", "Im", "yall'll", "let's", "twas", "somebody'd", "oclock"]
)  # fmt: skip
_MARKS = MARKS + [".", ":", "'", " ", "  ", "\t", "\n", "1,2", ".5"]

_piece = st.one_of(st.sampled_from(_WORDS), st.sampled_from(_MARKS))
_text = st.lists(_piece, min_size=0, max_size=5).map(
    lambda parts: " ".join(parts) if len(parts) % 2 else "".join(parts)
)


@st.composite
def _question(draw):
    pool = draw(st.lists(_text, min_size=1, max_size=4))
    gts = draw(st.lists(st.sampled_from(pool), min_size=10, max_size=10))
    prediction = draw(st.one_of(st.sampled_from(pool), _text))
    return prediction, gts


@settings(max_examples=400, derandomize=True, deadline=None)
@given(_question())
def test_question_accuracy_equals_official(question):
    prediction, gts = question
    assert question_accuracy(prediction, gts) == official_question(prediction, gts)
    assert normalize_answer(prediction) == official_normalize(prediction)


def test_vqa_accuracy_equals_official_on_a_seeded_set():
    rng = random.Random(20240601)
    predictions, answers = {}, {}
    for i in range(300):
        pool = [
            "".join(rng.choice(_WORDS + _MARKS) for _ in range(rng.randint(1, 4))) for _ in range(rng.randint(1, 4))
        ]
        gts = [rng.choice(pool) for _ in range(10)]
        base = rng.choice(pool)
        prediction = rng.choice([base, base.upper(), f"the {base}.", f" {base}\n", rng.choice(_WORDS)])
        predictions[f"q{i:03d}"] = prediction
        answers[f"q{i:03d}"] = gts
    result = vqa_accuracy(predictions, answers)
    per_question, overall = reference.official_accuracy(predictions, answers)
    assert list(result.per_sample) == per_question
    assert round(100 * result.value, 2) == overall
    assert len(set(result.per_sample)) > 3  # the set covers several accuracy levels
