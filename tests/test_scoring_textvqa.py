"""TextVQA accuracy (task `textvqa`): the EvalAI answer processor, the 10-answer formula, and
agreement with lmms-eval's textvqa task and LLaVA's m4c evaluator.

Both references are transcribed in tests/data/textvqa/ (reference_textvqa_eval.py and
reference_m4c_evaluator.py); each hand-written vector below is also checked against them, so a wrong
expectation here cannot hide a wrong scorer.
"""

from __future__ import annotations

import random

import pytest
from hypothesis import Phase, find, given, settings
from hypothesis import strategies as st

from vlmperf.errors import InputError
from vlmperf.scoring import vqa
from vlmperf.scoring.textvqa import process_answer, question_accuracy, textvqa_accuracy

from fixtures.oracles import load_oracle

reference = load_oracle("textvqa/reference_textvqa_eval.py")
m4c_reference = load_oracle("textvqa/reference_m4c_evaluator.py")
_LMMS = reference.EvalAIAnswerProcessor()
_M4C = m4c_reference.M4CEvalAIAnswerProcessor()


def lmms_question(prediction: str, answers: list[str]) -> float:
    per_question, _ = reference.lmms_eval_accuracy({"q": prediction}, {"q": answers})
    return per_question[0]


def m4c_question(prediction: str, answers: list[str]) -> float:
    per_question, _ = m4c_reference.m4c_accuracy({"q": prediction}, {"q": answers})
    return per_question[0]


# ---------------------------------------------------------------------------------------------
# The answer processor, rule by rule. Each row: input, expected processed form.

MARKS = [";", "/", "[", "]", '"', "{", "}", "(", ")", "=", "+", "\\", "_", "-", ">", "<", "@", "`", "!"]

PROCESS_ROWS = (
    # a mark between letters with no space beside it anywhere: replaced by a space
    [(f"x{p}y", "x y") for p in MARKS]
    # the mark has a space beside it somewhere: every occurrence is deleted
    + [(f"x{p}y {p}z", "xy z") for p in MARKS]
    + [
        # "," and "?" are deleted before anything else, wherever they are
        ("x,y", "xy"), ("x, y", "x y"), ("1,000", "1000"), ("12,345,678", "12345678"), ("what?", "what"),
        ("x?y", "xy"), ("x,y-z", "xy z"),  # the comma is gone before the marks are looked at
        # "'s" is split off after lower-casing
        ("what's", "what 's"), ("WHAT'S", "what 's"), ("it's", "it 's"), ("'s", "'s"), ("ma'am", "ma'am"),
        # periods: removed unless a digit follows (the look-ahead typo), at most 32 of them
        ("3.14", "3.14"), ("x.5", "x.5"), ("end.", "end"), ("u.s.a.", "usa"), ("1.5.", "1.5"),
        ("x" + "." * 40, "x" + "." * 8),
        # numbers, articles, contractions, case, whitespace
        ("None", "0"), ("Two Dogs", "2 dogs"), ("the TEN", "10"), ("an apple", "apple"), ("A", ""),
        ("dont", "don't"), ("Isnt", "isn't"), ("Im", "im"), ("Ive", "ive"), ("I'dve", "i'dve"),
        ("somebody'd", "somebodyd"), ("x:y", "x:y"), ("  Red\tCAR\n", "red car"), ("red\n\ncar", "red car"),
        ("", ""),
    ]
)  # fmt: skip


@pytest.mark.parametrize(("text", "expected"), PROCESS_ROWS)
def test_process_answer(text, expected):
    assert process_answer(text) == expected
    assert _LMMS(text) == expected
    assert _M4C(text) == expected


def test_every_contraction_in_the_table():
    for key, _value in vqa.CONTRACTIONS.items():
        # lower-cased first, so capitalised keys stay as they are, lower-cased; keys with "'s" in
        # them are split before the lookup ("let's" -> "let 's", "she's" -> "she 's")
        assert process_answer(key) == _LMMS(key) == _M4C(key)
    assert process_answer("let's") == "let 's"
    assert process_answer("youre") == "you're"


def test_tables_are_vqav2s():
    # why textvqa.py may reuse vqa.py's punctuation and digit/article steps
    assert dict(_LMMS.CONTRACTIONS) == vqa.CONTRACTIONS
    # `setdefault` grows NUMBER_MAP with word -> word entries as the processor runs
    assert {k: v for k, v in _LMMS.NUMBER_MAP.items() if k != v} == vqa.NUMBER_WORDS
    assert list(_LMMS.ARTICLES) == list(vqa.ARTICLES)
    assert list(_LMMS.PUNCTUATIONS) == list(vqa.PUNCTUATION)
    assert _LMMS.PERIOD_STRIP.pattern == r"(?!<=\d)(\.)(?!\d)"


# ---------------------------------------------------------------------------------------------
# The 10-answer formula (as for VQAv2): with m of 10 processed answers equal to the processed
# prediction, m subsets see m-1 matches and 10-m see m:
#   m=0: 0; m=1: 9*(1/3)/10 = 0.3; m=2: (2/3 + 8*2/3)/10 = 0.6; m=3: (3*2/3 + 7)/10 = 0.9; m>=4: 1.0
# Each row: prediction, answers, expected, with the derivation.

HAND_CASES = [
    ("yes", ["yes"] * 3 + ["no"] * 7, 0.9),
    ("yes", ["yes"] * 4 + ["no"] * 6, 1.0),
    # answers are always processed, even unanimous ones: "Two" and ten "two" all become "2" -> 1.0
    # (VQAv2's master rule compares "Two" with "two" raw there and scores 0)
    ("Two", ["two"] * 10, 1.0),
    # ten "yes." -> "yes"; "YES!" -> "yes" -> 1.0
    ("YES!", ["yes."] * 10, 1.0),
    # commas are deleted: "1,000" (x3) -> "1000"; the prediction "1000" -> m=3 -> 0.9
    ("1000", ["1,000"] * 3 + ["100"] * 7, 0.9),
    # a comma between letters is deleted too: "coca,cola" -> "cocacola" (VQAv2 makes "coca cola");
    # answers "coca cola" x5 do not match -> m=0 -> 0.0 ...
    ("coca,cola", ["coca cola"] * 5 + ["pepsi"] * 5, 0.0),
    # ... and answers "cocacola" x2 do -> m=2 -> 0.6
    ("coca,cola", ["cocacola"] * 2 + ["pepsi"] * 8, 0.6),
    # "'s" split: "What's" -> "what 's"; answers "what's" -> "what 's" x1 -> m=1 -> 0.3
    ("What's", ["what's"] + ["no"] * 9, 0.3),
    # capitalised contraction keys never match: "Im" -> "im", "I'm" -> "i'm" -> 0.0
    ("Im", ["I'm"] * 5 + ["no"] * 5, 0.0),
    # 40 periods: 32 go on both sides -> "x........" x3 -> 0.9
    ("x" + "." * 40, ["x" + "." * 40] * 3 + ["y"] * 7, 0.9),
    # one answer only (lmms-eval takes it; LLaVA asserts 10): the one subset has no others -> 0.0
    ("yes", ["yes"], 0.0),
    # two answers, both "yes": each subset sees 1 match -> 1/3
    ("yes", ["yes", "yes"], 1 / 3),
    # "Coca-Cola's": lower -> "coca-cola's"; "'s" split -> "coca-cola 's"; "-" has no space beside it
    # -> "coca cola 's". Answers "coca cola" x4 differ -> m=0 -> 0.0 ...
    ("Coca-Cola's", ["coca cola"] * 4 + ["coke"] * 6, 0.0),
    # ... while "Coca-Cola's" x2 and "coca cola's" (-> "coca cola 's") x1 match -> m=3 -> 0.9
    ("Coca-Cola's", ["Coca-Cola's"] * 2 + ["coca cola's"] + ["coke"] * 7, 0.9),
    # "coca cola" against "Coca-Cola" x4 ("-" -> " ", lower-cased) -> m=4 -> 1.0
    ("coca cola", ["Coca-Cola"] * 4 + ["coke"] * 6, 1.0),
    # "2,000": the comma is deleted -> "2000"; answers "2000" x2 and "2,000" x1 -> m=3 -> 0.9;
    # "2 000" stays two words and does not match
    ("2,000", ["2000"] * 2 + ["2,000"] + ["2 000"] * 7, 0.9),
    # unanimous "2000": always processed, so "2,000" -> "2000" matches all 10 -> 1.0 (VQAv2 master: 0.0)
    ("2,000", ["2000"] * 10, 1.0),
    # "2.000": the period is before a digit, so it stays -> "2.000" != "2000" -> 0.0
    ("2.000", ["2000"] * 10, 0.0),
    # "Is it red?" -> "is it red" ("?" deleted); answers "is it red" x1 -> m=1 -> 0.3
    ("Is it red?", ["is it red"] + ["red"] * 9, 0.3),
]


@pytest.mark.parametrize(("prediction", "answers", "expected"), HAND_CASES)
def test_hand_written_questions(prediction, answers, expected):
    got = question_accuracy(prediction, answers)
    assert got == pytest.approx(expected, abs=1e-12)
    assert got == lmms_question(prediction, answers)
    if len(answers) == 10:
        assert got == pytest.approx(m4c_question(prediction, answers), abs=1e-12)


def test_m4c_needs_ten_answers():
    with pytest.raises(AssertionError):
        m4c_question("yes", ["yes"] * 9)


def test_question_accuracy_needs_answers():
    with pytest.raises(InputError):
        question_accuracy("yes", [])


def test_per_question_mean_is_exact_like_lmms_eval():
    # lmms-eval takes statistics.mean (exact, then rounded once), LLaVA sum/len (float additions).
    # With matches at positions 0, 1, 9 of 12 answers the two differ in the last bit.
    answers = ["yes", "yes"] + ["no"] * 7 + ["yes", "no", "no"]
    got = question_accuracy("yes", answers)
    assert got == lmms_question("yes", answers) == 0.9166666666666666
    accs = [2 / 3, 2 / 3] + [1] * 7 + [2 / 3, 1, 1]  # LLaVA's sum/len on the same scores
    assert sum(accs) / len(accs) == 0.9166666666666665


# ---------------------------------------------------------------------------------------------
# textvqa_accuracy


def test_textvqa_accuracy_value_order_and_implementation():
    predictions = {"q3": "yes", "q1": "No.", "q2": "Two"}
    answers = {"q1": ["no"] * 2 + ["yes"] * 8, "q2": ["2"] * 10, "q3": ["yes"] * 3 + ["no"] * 7, "unused": ["x"] * 10}
    result = textvqa_accuracy(predictions, answers)
    # q3: m=3 -> 0.9; q1: "No." -> "no", m=2 -> 0.6; q2: "Two" -> "2", m=10 -> 1.0
    assert result.per_sample == pytest.approx((0.9, 0.6, 1.0))
    assert result.value == pytest.approx((0.9 + 0.6 + 1.0) / 3)
    assert result.ci95 is None
    assert result.implementation == {
        "name": "vqa_accuracy",
        "rule": "textvqa",
        "reference": result.implementation["reference"],
        "source": (
            "EvolvingLMMs-Lab/lmms-eval lmms_eval/tasks/textvqa/utils.py+lmms_eval/tasks/_task_utils/vqa_eval_metric.py"
            "@75571cfe0fa36ca5ec2e6aa2bb268f9d38295af3; "
            "haotian-liu/LLaVA llava/eval/m4c_evaluator.py@c121f0432da27facab705978f83c4ada465e46fd"
        ),
        "version": "1",
    }
    assert "\n" not in result.implementation["reference"]


def test_textvqa_accuracy_bad_input():
    with pytest.raises(InputError, match="no predictions"):
        textvqa_accuracy({}, {})
    with pytest.raises(InputError, match="q2"):
        textvqa_accuracy({"q1": "yes", "q2": "no"}, {"q1": ["yes"] * 10})
    with pytest.raises(InputError):
        textvqa_accuracy({"q1": "yes"}, {"q1": []})


# ---------------------------------------------------------------------------------------------
# Agreement with both references on generated questions: articles, number words, contractions
# (capitalised keys too), every mark, "," and "?" anywhere, "'s" / "'S", periods before and after
# digits, more than 32 periods, digit commas, newlines and tabs, mixed case; unanimous and split
# crowds.

_WORDS = (
    ["yes", "no", "red", "coca cola", "x-ray", "3", "10", "eleven", "don't", "it's", "IT'S", "what's", "ma'am"]
    + list(vqa.NUMBER_WORDS) + ["Two", "TEN", "None"]
    + ["a", "an", "the", "The", "A", "another"]
    + ["Im", "Ive", "Id've", "I'dve", "dont", "Isnt", "whats", "let's", "she's", "somebody'd", "'s", "'S"]
)  # fmt: skip
_NUMBERS = ["1,000", "1,,2", "1,2", "3.5", ".5", "5.", "x.5", "3:00", "p.m."]
_INNER = ["x?y", "what?now", "coca,cola", "red,blue?", "x-y?z"]  # "," and "?" with no space beside them
_MARKS = [*vqa.PUNCTUATION, ".", ":", "'", "\n", "\t", " ", "  "]

_piece = st.one_of(
    st.sampled_from(_WORDS),
    st.sampled_from(sorted(vqa.CONTRACTIONS)),
    st.sampled_from(_NUMBERS),
    st.sampled_from(_INNER),
    st.sampled_from(_MARKS),
    st.integers(min_value=30, max_value=40).map(lambda n: "." * n),
)
_text = st.lists(st.tuples(_piece, st.sampled_from(["", " "])), min_size=0, max_size=5).map(
    lambda parts: "".join(piece + sep for piece, sep in parts)
)
_CASES = [str, str.upper, str.lower, str.title]
_DRESSINGS = ["{}", " {}", "{}\n", "\t{} ", "{}.", "{}?", "{},", "the {}", "({})"]


@st.composite
def _variant(draw, text):
    return draw(st.sampled_from(_DRESSINGS)).format(draw(st.sampled_from(_CASES))(text))


@st.composite
def _question(draw):
    """(prediction, 10 answers): one text, or its variants, takes m of the 10 places."""
    base = draw(st.lists(_text, min_size=1, max_size=3))
    pool = base + [draw(_variant(text)) for text in base]
    main = draw(st.sampled_from(pool))
    m = draw(st.integers(min_value=0, max_value=10))
    rest = draw(st.lists(st.sampled_from(pool), min_size=10 - m, max_size=10 - m))
    answers = draw(st.permutations([main] * m + rest))
    prediction = draw(st.one_of(st.just(main), _variant(main), st.sampled_from(pool), _text))
    return prediction, answers


@settings(max_examples=300, deadline=None)
@given(_question())
def test_question_accuracy_equals_lmms_eval(question):
    prediction, answers = question
    assert abs(question_accuracy(prediction, answers) - lmms_question(prediction, answers)) <= 1e-9


@settings(max_examples=300, deadline=None)
@given(_question())
@pytest.mark.slow
def test_lmms_eval_and_m4c_agree(question):
    prediction, answers = question
    assert abs(lmms_question(prediction, answers) - m4c_question(prediction, answers)) <= 1e-12
    assert abs(question_accuracy(prediction, answers) - m4c_question(prediction, answers)) <= 1e-9


@settings(max_examples=300, deadline=None)
@given(_text)
def test_process_answer_equals_both(text):
    assert process_answer(text) == _LMMS(text) == _M4C(text)


# no shrinking; derandomized so that this guard on the generator cannot flake
_FIND = settings(max_examples=3000, database=None, deadline=None, derandomize=True, phases=[Phase.generate])


@pytest.mark.parametrize("level", [0.0, 0.3, 0.6, 0.9, 1.0])
def test_the_generator_reaches_every_level(level):
    # a guard on `_question`: the property tests above are only as good as what they generate
    find(_question(), lambda q: abs(question_accuracy(*q) - level) < 1e-9, settings=_FIND)


def test_textvqa_accuracy_equals_both_on_a_seeded_set():
    rng = random.Random(20240602)
    predictions, answers = {}, {}
    words = _WORDS + _NUMBERS + _MARKS + ["." * 35]
    for i in range(300):
        pool = ["".join(rng.choice(words) for _ in range(rng.randint(1, 4))) for _ in range(rng.randint(1, 4))]
        gts = [rng.choice(pool) for _ in range(10)]
        base = rng.choice(pool)
        prediction = rng.choice([base, base.upper(), f"the {base}.", f" {base}?\n", rng.choice(_WORDS)])
        predictions[f"q{i:03d}"] = prediction
        answers[f"q{i:03d}"] = gts
    result = textvqa_accuracy(predictions, answers)
    lmms_per_question, lmms_value = reference.lmms_eval_accuracy(predictions, answers)
    m4c_per_question, m4c_value = m4c_reference.m4c_accuracy(predictions, answers)
    assert list(result.per_sample) == lmms_per_question
    assert result.value == pytest.approx(lmms_value, abs=1e-12)
    assert result.value == pytest.approx(m4c_value, abs=1e-12)
    assert round(100 * result.value, 2) == round(100 * m4c_value, 2)  # what LLaVA prints
    assert len(set(result.per_sample)) > 3
