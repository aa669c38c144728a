"""wer / cer: jiwer's figures against each sample's closest reference, checked by hand and against jiwer."""

from __future__ import annotations

import functools
import importlib.metadata
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vlmperf.errors import InputError
from vlmperf.scoring.text_error import (
    NORMALISATION,
    char_error_rate,
    char_transform,
    normaliser,
    word_error_rate,
    word_transform,
)

jiwer = pytest.importorskip("jiwer")


def test_hand_counted_word_edits() -> None:
    predictions = {
        "a": "the cat sat on mat",  # 1 deletion ("the") against 6 reference words
        "b": "a big dog runs",  # 1 insertion ("big") + 1 deletion ("fast") against 4
        "c": "one two three",  # exact
    }
    references = {"a": ["the cat sat on the mat"], "b": ["a dog runs fast"], "c": ["one two three"]}
    result = word_error_rate(predictions, references)
    assert result.per_sample == (1 / 6, 2 / 4, 0.0)
    assert result.value == (1 + 2 + 0) / (6 + 4 + 3)  # total edits / total reference words
    assert result.ci95 is None  # below 5 samples


def test_hand_counted_character_edits() -> None:
    predictions = {"a": "abd", "b": "ab", "c": "a cat"}
    references = {"a": ["abc"], "b": ["a b"], "c": ["a bat"]}
    result = char_error_rate(predictions, references)
    # abd/abc: 1 substitution of 3; ab/"a b": the space is a character, 1 deletion of 3;
    # "a cat"/"a bat": 1 substitution of 5
    assert result.per_sample == (1 / 3, 1 / 3, 1 / 5)
    assert result.value == 3 / 11


def test_normalisation_case_punctuation_whitespace() -> None:
    result = word_error_rate(
        {"a": "The  Cat,\nsat\ton the mat!", "b": "Don't STOP"},
        {"a": ["the cat sat on the mat"], "b": ["dont stop."]},
    )
    assert result.per_sample == (0.0, 0.0)
    assert result.implementation["normalisation"] == NORMALISATION
    assert result.implementation["name"] == "jiwer"
    assert result.implementation["version"] == importlib.metadata.version("jiwer")


def test_closest_reference_is_the_one_with_the_lowest_rate() -> None:
    predictions = {"a": "the cat sat on mat"}
    references = {"a": ["completely different words here", "the cat sat on the mat", "cat"]}
    result = word_error_rate(predictions, references)
    assert result.per_sample == (1 / 6,)
    assert result.value == 1 / 6  # the corpus figure uses the chosen reference's length


def test_closest_reference_ties_go_to_the_earlier_reference() -> None:
    # "a b" against "a c" and against "a b c d": both 0.5. The earlier one is chosen, which shows
    # in the corpus figure: (1 + 1) / (2 + 4), where the later one would give (2 + 1) / (4 + 4).
    predictions = {"x": "a b", "y": "p q r"}
    references = {"x": ["a c", "a b c d"], "y": ["p q r s"]}
    result = word_error_rate(predictions, references)
    assert result.per_sample == (0.5, 0.25)
    assert result.value == 2 / 6


def test_cer_chooses_its_own_closest_reference() -> None:
    # By words "a cats" is one substitution from either reference (1/2 each; the tie goes to
    # "one cats"); by characters it is one insertion from "a cat" (1/5) and three edits from
    # "one cats" (3/8), so cer pairs it with "a cat".
    predictions = {"x": "a cats"}
    references = {"x": ["one cats", "a cat"]}
    words = word_error_rate(predictions, references)
    chars = char_error_rate(predictions, references)
    assert words.per_sample == (0.5,)
    assert chars.per_sample == (1 / 5,)


def test_empty_prediction() -> None:
    result = word_error_rate({"a": "", "b": "x y"}, {"a": ["one two three"], "b": ["x y"]})
    assert result.per_sample == (1.0, 0.0)
    assert result.value == 3 / 5
    chars = char_error_rate({"a": "..."}, {"a": ["ab"]})  # empty after normalisation
    assert chars.per_sample == (1.0,)


def test_empty_references_are_skipped_and_all_empty_is_an_error() -> None:
    result = word_error_rate({"a": "a dog"}, {"a": ["", "!!", "a dog"]})
    assert result.per_sample == (0.0,)
    with pytest.raises(InputError, match=r"sample 'a': every reference is empty"):
        word_error_rate({"a": "a dog"}, {"a": ["", "?"]})


@pytest.mark.parametrize(
    ("predictions", "references", "match"),
    [
        ({}, {}, "no predictions"),
        ({"a": "x"}, {"b": ["x"]}, "no references for 1 prediction"),
        ({"a": "x"}, {"a": []}, "non-empty list"),
        ({"a": 1}, {"a": ["x"]}, "prediction must be a string"),
    ],
)
def test_bad_input(predictions, references, match) -> None:
    with pytest.raises(InputError, match=match):
        word_error_rate(predictions, references)
    with pytest.raises(InputError, match=match):
        char_error_rate(predictions, references)


def _random_set(n: int, seed: int) -> tuple[dict[str, str], dict[str, list[str]]]:
    words = "a the dog cat man woman red blue runs sits on in near big small two, three. Park! beach?".split()  # noqa: SIM905
    rng = random.Random(seed)

    def sentence() -> str:
        return " ".join(rng.choice(words) for _ in range(rng.randint(0, 9)))

    predictions = {f"s{i}": sentence() for i in range(n)}
    references = {f"s{i}": [sentence() or "dog" for _ in range(rng.randint(1, 5))] for i in range(n)}
    return predictions, references


@pytest.mark.parametrize(
    ("scorer", "transform", "measure"),
    [
        (word_error_rate, word_transform, "wer"),
        (char_error_rate, char_transform, "cer"),
    ],
)
def test_equals_jiwer_on_the_chosen_pairs(scorer, transform, measure) -> None:
    predictions, references = _random_set(300, seed=7)
    result = scorer(predictions, references)
    t = transform()
    measure_fn = getattr(jiwer, measure)
    chosen = []
    per_sample = []
    for key, pred in predictions.items():
        rates = [
            (measure_fn(ref, pred, reference_transform=t, hypothesis_transform=t), ref)
            for ref in references[key]
            if t(ref) != [[]]
        ]
        best = min(rates, key=lambda pair: pair[0])  # min keeps the first of equal rates
        per_sample.append(best[0])
        chosen.append(best[1])
    assert result.per_sample == tuple(per_sample)
    assert result.value == measure_fn(chosen, list(predictions.values()), reference_transform=t, hypothesis_transform=t)
    assert result.ci95 is not None and result.ci95[0] <= result.value <= result.ci95[1]


@functools.cache
def _with_remove_punctuation():
    return jiwer.Compose(
        [jiwer.ToLowerCase(), jiwer.RemovePunctuation(), jiwer.SubstituteRegexes({r"\s+": " "}), jiwer.Strip()]
    )


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=40))
def test_normaliser_deletes_what_jiwer_remove_punctuation_deletes(text: str) -> None:
    assert normaliser()(text) == _with_remove_punctuation()(text)


def test_normaliser_examples() -> None:
    assert normaliser()(["  Don't STOP—the e-mail's «quoted» (x) 3.5!\u00a0end\n", "\t"]) == [
        "dont stopthe emails quoted x 35 end",
        "",
    ]
