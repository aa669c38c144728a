"""wer / cer: jiwer's own call with its default transforms, checked by hand and against jiwer called directly.

The oracle is jiwer itself: `jiwer.wer(references, predictions)` / `jiwer.cer(...)` with no transform
arguments (its defaults), on each sample's first reference; for "closest", each sample's rate against
every reference by `jiwer.wer([ref], [pred])`, the lowest (earlier on ties), then jiwer's call on the
chosen pairs; for the normalised variant, jiwer's own transforms (ToLowerCase, RemovePunctuation,
SubstituteRegexes, Strip) applied to the texts before the same call.
"""

from __future__ import annotations

import functools
import importlib.metadata
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vlmperf.errors import InputError
from vlmperf.scoring.text_error import NORMALISATION, char_error_rate, reference_problem, word_error_rate

jiwer = pytest.importorskip("jiwer")

TOLERANCE = 1e-9
SCORERS = {"wer": word_error_rate, "cer": char_error_rate}


# --- oracles: jiwer called directly ------------------------------------------------------------


@functools.cache
def _jiwer_normalisation():
    """The normalisation built from jiwer's own transforms (the slow, one-replace-per-character
    RemovePunctuation), so the module's one-translate version is checked against jiwer's."""
    return jiwer.Compose(
        [jiwer.ToLowerCase(), jiwer.RemovePunctuation(), jiwer.SubstituteRegexes({r"\s+": " "}), jiwer.Strip()]
    )


def _oracle_first(measure: str, predictions: dict, references: dict, normalised: bool = False):
    """(pooled, per_sample) from jiwer's own call against each sample's first reference."""
    call = getattr(jiwer, measure)
    prepare = _jiwer_normalisation() if normalised else (lambda text: text)
    refs = [prepare(references[key][0]) for key in predictions]
    preds = [prepare(predictions[key]) for key in predictions]
    return call(refs, preds), [call([r], [p]) for r, p in zip(refs, preds, strict=True)]


def _oracle_closest(measure: str, predictions: dict, references: dict, normalised: bool = False):
    """(pooled, per_sample): each sample's rate against every non-empty reference by jiwer's own
    one-pair call, the lowest (the earlier on ties), then jiwer's call on the chosen pairs."""
    call = getattr(jiwer, measure)
    prepare = _jiwer_normalisation() if normalised else (lambda text: text)
    chosen, per_sample = [], []
    for key, pred in predictions.items():
        best = None
        for ref in (prepare(r) for r in references[key]):
            if not ref.strip():  # no word and no character after jiwer's Strip: never chosen
                continue
            rate = call([ref], [prepare(pred)])
            if best is None or rate < best[0]:  # strictly lower: ties stay with the earlier
                best = (rate, ref)
        assert best is not None, "the generators give every sample a reference with text"
        per_sample.append(best[0])
        chosen.append(best[1])
    return call(chosen, [prepare(p) for p in predictions.values()]), per_sample


def _assert_equals(result, pooled: float, per_sample: list[float]) -> None:
    assert abs(result.value - pooled) <= TOLERANCE
    assert len(result.per_sample) == len(per_sample)
    for got, want in zip(result.per_sample, per_sample, strict=True):
        assert abs(got - want) <= TOLERANCE


# --- hand-counted cases -------------------------------------------------------------------------


def test_case_and_punctuation_count_by_default_and_not_when_normalised() -> None:
    predictions = {"a": "a dog runs"}
    references = {"a": ["A dog runs."]}
    # Words: "A" != "a" and "runs." != "runs": 2 substitutions of 3 reference words.
    assert word_error_rate(predictions, references, pick="first").value == 2 / 3
    # Characters: "A dog runs." has 11; "A" -> "a" is 1 substitution, "." 1 deletion: 2 / 11.
    assert char_error_rate(predictions, references, pick="first").value == 2 / 11
    # Normalised: both sides become "a dog runs": no edit.
    assert word_error_rate(predictions, references, pick="first", normalised=True).value == 0.0
    assert char_error_rate(predictions, references, pick="first", normalised=True).value == 0.0
    assert jiwer.wer("A dog runs.", "a dog runs") == 2 / 3  # the published figure it must equal


def test_hand_counted_word_edits_pooled_over_the_set() -> None:
    predictions = {
        "a": "the cat sat on mat",  # 1 deletion ("the") against 6 reference words
        "b": "a big dog runs",  # 1 insertion ("big") + 1 deletion ("fast") against 4
        "c": "one two three",  # exact
    }
    references = {"a": ["the cat sat on the mat"], "b": ["a dog runs fast"], "c": ["one two three"]}
    result = word_error_rate(predictions, references, pick="first")
    assert result.per_sample == (1 / 6, 2 / 4, 0.0)
    assert result.value == (1 + 2 + 0) / (6 + 4 + 3)  # total edits / total reference words, not a mean
    assert result.ci95 is None  # below 5 samples


def test_hand_counted_character_edits() -> None:
    predictions = {"a": "abd", "b": "ab", "c": "a cat"}
    references = {"a": ["abc"], "b": ["a b"], "c": ["a bat"]}
    result = char_error_rate(predictions, references, pick="first")
    # abd/abc: 1 substitution of 3; ab/"a b": the space is a character, 1 deletion of 3;
    # "a cat"/"a bat": 1 substitution of 5. Pooled: 3 edits / 11 characters.
    assert result.per_sample == (1 / 3, 1 / 3, 1 / 5)
    assert result.value == 3 / 11


def test_whitespace_under_jiwer_defaults() -> None:
    # wer_default is RemoveMultipleSpaces (runs of 2+ whitespace -> " "), Strip, split on " ".
    # "a\nb": a single newline is no word boundary, so the prediction is the one word "a\nb"
    # against "a", "b": 1 substitution + 1 deletion = 2 / 2.
    assert word_error_rate({"x": "a\nb"}, {"x": ["a b"]}, pick="first").value == 1.0
    # " a \n\t b  ": the run " \n\t " becomes one space, the ends are stripped: "a b", exact.
    assert word_error_rate({"x": " a \n\t b  "}, {"x": ["a b"]}, pick="first").value == 0.0
    # cer_default only strips: "a  b" against "a b" has one extra space, 1 insertion / 3.
    assert char_error_rate({"x": "a  b"}, {"x": ["a b"]}, pick="first").value == 1 / 3
    # Normalised: every whitespace run is one space first, so all of these are exact.
    for prediction in ("a\nb", " a \n\t b  ", "a  b", "A\tB!"):
        assert word_error_rate({"x": prediction}, {"x": ["a b"]}, pick="first", normalised=True).value == 0.0
        assert char_error_rate({"x": prediction}, {"x": ["a b"]}, pick="first", normalised=True).value == 0.0


def test_normalisation_deletes_unicode_punctuation() -> None:
    # "Don't STOP—the e-mail's «quoted» 3.5!" -> "dont stopthe emails quoted 35": the dash joins
    # "STOP" and "the" (deleted, not replaced by a space), as jiwer.RemovePunctuation does.
    result = word_error_rate(
        {"x": "Don't STOP—the e-mail's «quoted» 3.5!"},
        {"x": ["dont stopthe emails quoted 35"]},
        pick="first",
        normalised=True,
    )
    assert result.value == 0.0


def test_first_ignores_later_references() -> None:
    predictions = {"x": "red car"}
    references = {"x": ["blue car", "red car"]}
    # "first": against "blue car" only, 1 substitution of 2; "closest" finds the exact one.
    assert word_error_rate(predictions, references, pick="first").per_sample == (0.5,)
    assert word_error_rate(predictions, references, pick="closest").per_sample == (0.0,)


def test_closest_reference_is_the_one_with_the_lowest_rate() -> None:
    predictions = {"a": "the cat sat on mat"}
    references = {"a": ["completely different words here", "the cat sat on the mat", "cat"]}
    # 5/4 (4 substitutions + 1 insertion of 4), 1/6 (1 deletion of 6), 4/1 (4 insertions of 1).
    result = word_error_rate(predictions, references, pick="closest")
    assert result.per_sample == (1 / 6,)
    assert result.value == 1 / 6  # the pooled figure uses the chosen reference's length


def test_closest_reference_ties_go_to_the_earlier_reference() -> None:
    # "a b" against "a c" and against "a b c d": both 0.5. The earlier one is chosen, which shows
    # in the pooled figure: (1 + 1) / (2 + 4), where the later one would give (2 + 1) / (4 + 4).
    predictions = {"x": "a b", "y": "p q r"}
    references = {"x": ["a c", "a b c d"], "y": ["p q r s"]}
    result = word_error_rate(predictions, references, pick="closest")
    assert result.per_sample == (0.5, 0.25)
    assert result.value == 2 / 6


def test_closest_depends_on_the_transforms() -> None:
    # Defaults: "a dog" against "A dog" is 1 substitution of 2 (0.5), against "a big dog" 1 deletion
    # of 3 (1/3): the second is closer. Normalised, "A dog" becomes "a dog": exact, the first wins.
    predictions = {"x": "a dog"}
    references = {"x": ["A dog", "a big dog"]}
    assert word_error_rate(predictions, references, pick="closest").per_sample == (1 / 3,)
    assert word_error_rate(predictions, references, pick="closest", normalised=True).per_sample == (0.0,)


def test_cer_chooses_its_own_closest_reference() -> None:
    # By words "a cats" is one substitution from either reference (1/2 each; the tie goes to
    # "one cats"); by characters it is one insertion from "a cat" (1/5) and three edits from
    # "one cats" (3/8), so cer pairs it with "a cat".
    predictions = {"x": "a cats"}
    references = {"x": ["one cats", "a cat"]}
    assert word_error_rate(predictions, references, pick="closest").per_sample == (0.5,)
    assert char_error_rate(predictions, references, pick="closest").per_sample == (1 / 5,)


def test_empty_prediction_scores_one_and_jiwer_agrees() -> None:
    # "" against "one two three": 3 deletions of 3; "x y" exact. Pooled: 3 / 5.
    predictions = {"a": "", "b": "x y"}
    references = {"a": ["one two three"], "b": ["x y"]}
    for pick in ("first", "closest"):
        result = word_error_rate(predictions, references, pick=pick)
        assert result.per_sample == (1.0, 0.0)
        assert result.value == 3 / 5 == jiwer.wer(["one two three", "x y"], ["", "x y"])
    # "..." is punctuation only: by default 3 characters against "ab", 2 substitutions + 1 insertion
    # = 3 / 2 (a rate can pass 1); once normalised it is empty: 2 deletions of 2.
    assert char_error_rate({"a": "..."}, {"a": ["ab"]}, pick="first").per_sample == (1.5,)
    assert char_error_rate({"a": "..."}, {"a": ["ab"]}, pick="first", normalised=True).per_sample == (1.0,)
    assert char_error_rate({"a": " \n "}, {"a": ["ab"]}, pick="first").value == jiwer.cer(["ab"], [" \n "]) == 1.0


def test_implementation_records_jiwer_its_version_call_transforms_and_policy() -> None:
    version = importlib.metadata.version("jiwer")
    wer = word_error_rate({"a": "x"}, {"a": ["x"]}, pick="first").implementation
    assert wer == {
        "name": "jiwer",
        "version": version,
        "call": "jiwer.wer(references, predictions)",
        "transforms": "jiwer defaults (wer_default: RemoveMultipleSpaces, Strip, ReduceToListOfListOfWords)",
        "reference": "each sample's first reference (later references are not scored against)",
    }
    cer = char_error_rate({"a": "x"}, {"a": ["x"]}, pick="closest", normalised=True).implementation
    assert cer["call"] == "jiwer.cer(references, predictions)"
    assert cer["transforms"] == f"{NORMALISATION}; then jiwer defaults (cer_default: Strip, ReduceToListOfListOfChars)"
    assert cer["reference"].startswith("each sample's closest reference: lowest per-sample error rate")
    # The transforms named are jiwer's real defaults, read from the installed jiwer.
    from jiwer.transformations import cer_default, wer_default

    assert [type(t).__name__ for t in wer_default.transforms] == [
        "RemoveMultipleSpaces",
        "Strip",
        "ReduceToListOfListOfWords",
    ]
    assert [type(t).__name__ for t in cer_default.transforms] == ["Strip", "ReduceToListOfListOfChars"]


# --- empty references and bad input -------------------------------------------------------------


def test_empty_first_reference_is_an_error_naming_the_sample() -> None:
    for scorer in SCORERS.values():
        with pytest.raises(InputError, match=r"sample 'b': the first reference is empty once jiwer strips it.*first"):
            scorer({"a": "x", "b": "x"}, {"a": ["x"], "b": [" \n ", "x"]}, pick="first")


def test_closest_skips_empty_references_and_all_empty_is_an_error() -> None:
    result = word_error_rate({"a": "a dog"}, {"a": ["", "  ", "a dog"]}, pick="closest")
    assert result.per_sample == (0.0,)
    for scorer in SCORERS.values():
        with pytest.raises(InputError, match=r"sample 'a': every reference is empty once jiwer strips it"):
            scorer({"a": "a dog"}, {"a": ["", "\t"]}, pick="closest")


def test_references_empty_only_once_normalised() -> None:
    # "!!" is a word (and two characters) under jiwer's defaults, nothing once normalised.
    assert word_error_rate({"a": "x"}, {"a": ["!!"]}, pick="first").value == 1.0
    with pytest.raises(InputError, match=r"sample 'a': the first reference is empty once lower-cased"):
        word_error_rate({"a": "x"}, {"a": ["!!", "x"]}, pick="first", normalised=True)
    with pytest.raises(InputError, match=r"sample 'a': every reference is empty once lower-cased"):
        char_error_rate({"a": "x"}, {"a": ["!!", "¿…"]}, pick="closest", normalised=True)
    assert char_error_rate({"a": "x"}, {"a": ["!!", "x."]}, pick="closest", normalised=True).value == 0.0


def test_reference_problem_messages() -> None:
    assert reference_problem(["a", ""], pick="first", normalised=False) is None
    assert reference_problem(["", "a"], pick="closest", normalised=False) is None
    assert reference_problem(["!!"], pick="first", normalised=False) is None
    assert reference_problem([], pick="first", normalised=False) == "there is no reference"
    assert reference_problem([" ", "a"], pick="first", normalised=False) == (
        "the first reference is empty once jiwer strips it, and wer and cer are scored against the first reference only"
    )
    assert reference_problem(["!!", "a"], pick="first", normalised=True) == (
        "the first reference is empty once lower-cased, its punctuation deleted and its whitespace collapsed, "
        "and wer and cer are scored against the first reference only"
    )
    assert reference_problem(["", "\n"], pick="closest", normalised=False) == (
        "every reference is empty once jiwer strips it"
    )
    assert reference_problem(["!", " . "], pick="closest", normalised=True) == (
        "every reference is empty once lower-cased, its punctuation deleted and its whitespace collapsed"
    )


def test_pick_must_be_named_and_known() -> None:
    with pytest.raises(TypeError):
        word_error_rate({"a": "x"}, {"a": ["x"]})  # type: ignore[call-arg]
    for call in (
        lambda: word_error_rate({"a": "x"}, {"a": ["x"]}, pick="best"),
        lambda: char_error_rate({"a": "x"}, {"a": ["x"]}, pick="last"),
        lambda: reference_problem(["x"], pick="any", normalised=False),
    ):
        with pytest.raises(ValueError, match="pick must be one of"):
            call()


@pytest.mark.parametrize(
    ("predictions", "references", "match"),
    [
        ({}, {}, "no predictions"),
        ({"a": "x"}, {"b": ["x"]}, "no references for 1 prediction"),
        ({"a": "x"}, {"a": []}, "non-empty list"),
        ({"a": 1}, {"a": ["x"]}, "prediction must be a string"),
    ],
)
@pytest.mark.parametrize("scorer", SCORERS.values())
def test_bad_input(scorer, predictions, references, match) -> None:
    with pytest.raises(InputError, match=match):
        scorer(predictions, references, pick="first")


# --- equality with jiwer on generated texts -----------------------------------------------------

CONTENT = ["a", "A", "dog", "Dog", "DOG", "runs", "runs.", "don't", "e-mail", "3.5", "Park!", "café", "«x»"]
EXTRA = ["!", "...", "—", "?", ","]
SEPARATORS = [" ", " ", " ", "  ", "\n", "\t", " \n ", "\r\n", " , "]
EDGES = ["", "", " ", "  ", "\n", "\t "]


@st.composite
def _text(draw, content: bool) -> str:
    """A text with case, punctuation, multiple spaces, newlines/tabs and leading/trailing spaces;
    `content`: at least one word that survives jiwer's Strip and the normalisation."""
    words = draw(st.lists(st.sampled_from(CONTENT + EXTRA), max_size=7))
    if content:
        words.insert(draw(st.integers(0, len(words))), draw(st.sampled_from(CONTENT)))
    separators = [draw(st.sampled_from(SEPARATORS)) for _ in range(max(len(words) - 1, 0))]
    text = words[0] if words else ""
    for separator, word in zip(separators, words[1:], strict=True):
        text += separator + word
    return draw(st.sampled_from(EDGES)) + text + draw(st.sampled_from(EDGES))


@st.composite
def _sets(draw, empty_references: bool):
    """Up to 6 samples, predictions possibly empty, 1 to 4 references each. The first reference has
    text; with `empty_references` later ones may be blank or punctuation only ("closest" skips them)."""
    n = draw(st.integers(1, 6))
    predictions, references = {}, {}
    for i in range(n):
        predictions[f"s{i}"] = draw(_text(content=False))
        later = _text(content=False) | st.sampled_from(["", " ", "!!"]) if empty_references else _text(content=True)
        rest = draw(st.lists(later, max_size=3))
        references[f"s{i}"] = [draw(_text(content=True)), *rest]
    return predictions, references


@settings(max_examples=200, deadline=None)
@given(data=_sets(empty_references=False), measure=st.sampled_from(["wer", "cer"]), normalised=st.booleans())
@pytest.mark.slow
def test_first_equals_jiwer_called_directly(data, measure, normalised) -> None:
    predictions, references = data
    result = SCORERS[measure](predictions, references, pick="first", normalised=normalised)
    _assert_equals(result, *_oracle_first(measure, predictions, references, normalised))


@settings(max_examples=200, deadline=None)
@given(data=_sets(empty_references=True), measure=st.sampled_from(["wer", "cer"]), normalised=st.booleans())
@pytest.mark.slow
def test_closest_equals_the_per_reference_jiwer_oracle(data, measure, normalised) -> None:
    predictions, references = data
    result = SCORERS[measure](predictions, references, pick="closest", normalised=normalised)
    _assert_equals(result, *_oracle_closest(measure, predictions, references, normalised))


@settings(max_examples=200, deadline=None)
@given(
    prediction=st.text(alphabet=st.characters(codec="utf-8"), max_size=30),
    reference=st.text(alphabet=st.characters(codec="utf-8"), max_size=30),
)
def test_normalisation_equals_jiwer_transforms_on_any_unicode(prediction: str, reference: str) -> None:
    # Any code point (Unicode punctuation, odd whitespace, case changes); " word" keeps the reference
    # non-empty once normalised.
    predictions, references = {"a": prediction}, {"a": [reference + " word"]}
    for measure, scorer in SCORERS.items():
        result = scorer(predictions, references, pick="first", normalised=True)
        _assert_equals(result, *_oracle_first(measure, predictions, references, normalised=True))


def _random_set(n: int, seed: int) -> tuple[dict[str, str], dict[str, list[str]]]:
    words = [
        "a", "The", "dog", "cat", "man", "woman", "red", "blue", "runs", "sits", "on", "in", "near", "big", "small",
        "two,", "three.", "Park!", "beach?",
    ]  # fmt: skip
    rng = random.Random(seed)

    def sentence() -> str:
        return " ".join(rng.choice(words) for _ in range(rng.randint(0, 9)))

    predictions = {f"s{i}": sentence() for i in range(n)}
    references = {f"s{i}": [sentence() or "dog" for _ in range(rng.randint(1, 5))] for i in range(n)}
    return predictions, references


@pytest.mark.parametrize("measure", ["wer", "cer"])
@pytest.mark.parametrize("pick", ["first", "closest"])
def test_a_caption_sized_set_equals_jiwer(measure, pick) -> None:
    predictions, references = _random_set(300, seed=7)
    result = SCORERS[measure](predictions, references, pick=pick)
    oracle = _oracle_first if pick == "first" else _oracle_closest
    _assert_equals(result, *oracle(measure, predictions, references))
    assert result.ci95 is not None and result.ci95[0] <= result.value <= result.ci95[1]
