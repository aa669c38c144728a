"""VQA accuracy computed exactly as the official VQAv2 evaluation computes it.

Why a faithful copy: VQA numbers are only comparable with published ones when the answer
normalisation and the 10-answer formula are the official ones, quirks included. Every step below
follows `PythonEvaluationTools/vqaEvaluation/vqaEval.py` of GT-Vision-Lab/VQA on master, commit
a013f0043c1e2cdc995922dfe257f7149aa9af06 (2021-03-11, "Fixed processing answers bug"; BSD-2-Clause,
Copyright (c) 2014, Aishwarya Agrawal: the tables are reproduced from it).
`tests/data/vqa/reference_vqa_eval.py` transcribes the official loop; the tests compare this module
with it.

How one question is scored (master):

1. Every answer and the prediction have newlines and tabs turned into spaces and are stripped.
2. Only when those 10 answers are not all the same string, every answer *and* the prediction go
   through the full normalisation (punctuation, then lower-casing, number words, articles,
   contractions). When they are unanimous neither side is normalised any further, so the match is
   exact and case-sensitive: ten "yes" and the prediction "Yes" score 0, and a prediction "yes."
   scores 0 too. The official annotations are already lower-case and clean, so this matters on raw
   answers and on predictions with case or punctuation.
3. The leave-one-out loop removes one of the 10 answer records at a time (the official code
   compares answer dicts, which differ by `answer_id`; here by position). Per question the score is
   the mean over the 10 subsets of min(1, matches among the other 9 / 3), so 0/1/2/3/4+ matching
   answers score 0, 0.3, 0.6, 0.9, 1.0. The set figure is the plain mean as a fraction; the
   official script prints 100 x the mean rounded to 2 decimals.

The commit earlier transcribed here, c4e6a0e4 (a Python 3 port that never reached master), differs
in steps 1 and 2 only: it normalised the prediction always and fully, did not clean the answers,
and gave split answers the punctuation step alone (ten "two" never matched "two", which became "2").

Quirks of the normalisation, kept on purpose:

- The period rule `(?!<=\\d)(\\.)(?!\\d)` was meant as a look-behind but is a look-ahead, so a
  period is removed exactly when it is not followed by a digit ("3.5" and "a.5" keep it).
- `re.UNICODE` is passed to `sub` in the count position, so at most 32 periods are removed.
- When the text holds a comma between two digits anywhere, every punctuation mark is deleted
  instead of replaced by a space ("1,000" -> "1000", and "a/b 1,2" -> "ab 12").
- A mark is also deleted (not replaced by a space) when it has a space on either side somewhere
  in the text; the check looks at the text as it was before any mark was handled.
- "'" and ":" are not punctuation marks; "." is handled only by the period rule.
- Number words are whole words only, and "none" becomes "0".
- Contraction keys with capitals ("Im", "Ive", "Id've", "I'dve") never match, since the text is
  lower-cased first; "somebody'd" maps to "somebodyd" (sic).

master is Python 2 code (print statements). This module reads it as Python 3 runs it (as the
Python 3 ports and the test oracle do). Python 2 would differ only on non-ASCII text: its `\\d`
matches ASCII digits only (a period before an Arabic-Indic digit goes there), its lower-casing
has no special cases (dotted capital I, final sigma), and its Unicode tables are older.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from vlmperf.errors import InputError
from vlmperf.scoring.result import MetricResult, check_ids, mean_result

SOURCE = "GT-Vision-Lab/VQA PythonEvaluationTools/vqaEvaluation/vqaEval.py@a013f0043c1e2cdc995922dfe257f7149aa9af06"
VERSION = "2"
REFERENCE = "VQAv2 official evaluation (vqaEval.py VQAEval.evaluate, GT-Vision-Lab/VQA master)"

# vqaEval.py `self.contractions`, entry for entry.
CONTRACTIONS: dict[str, str] = {
    "aint": "ain't", "arent": "aren't", "cant": "can't", "couldve": "could've", "couldnt": "couldn't",
    "couldn'tve": "couldn't've", "couldnt've": "couldn't've", "didnt": "didn't", "doesnt": "doesn't",
    "dont": "don't", "hadnt": "hadn't", "hadnt've": "hadn't've", "hadn'tve": "hadn't've", "hasnt": "hasn't",
    "havent": "haven't", "hed": "he'd", "hed've": "he'd've", "he'dve": "he'd've", "hes": "he's",
    "howd": "how'd", "howll": "how'll", "hows": "how's", "Id've": "I'd've", "I'dve": "I'd've",
    "Im": "I'm", "Ive": "I've", "isnt": "isn't", "itd": "it'd", "itd've": "it'd've", "it'dve": "it'd've",
    "itll": "it'll", "let's": "let's", "maam": "ma'am", "mightnt": "mightn't", "mightnt've": "mightn't've",
    "mightn'tve": "mightn't've", "mightve": "might've", "mustnt": "mustn't", "mustve": "must've",
    "neednt": "needn't", "notve": "not've", "oclock": "o'clock", "oughtnt": "oughtn't",
    "ow's'at": "'ow's'at", "'ows'at": "'ow's'at", "'ow'sat": "'ow's'at", "shant": "shan't",
    "shed've": "she'd've", "she'dve": "she'd've", "she's": "she's", "shouldve": "should've",
    "shouldnt": "shouldn't", "shouldnt've": "shouldn't've", "shouldn'tve": "shouldn't've",
    "somebody'd": "somebodyd", "somebodyd've": "somebody'd've", "somebody'dve": "somebody'd've",
    "somebodyll": "somebody'll", "somebodys": "somebody's", "someoned": "someone'd",
    "someoned've": "someone'd've", "someone'dve": "someone'd've", "someonell": "someone'll",
    "someones": "someone's", "somethingd": "something'd", "somethingd've": "something'd've",
    "something'dve": "something'd've", "somethingll": "something'll", "thats": "that's",
    "thered": "there'd", "thered've": "there'd've", "there'dve": "there'd've", "therere": "there're",
    "theres": "there's", "theyd": "they'd", "theyd've": "they'd've", "they'dve": "they'd've",
    "theyll": "they'll", "theyre": "they're", "theyve": "they've", "twas": "'twas", "wasnt": "wasn't",
    "wed've": "we'd've", "we'dve": "we'd've", "weve": "we've", "werent": "weren't", "whatll": "what'll",
    "whatre": "what're", "whats": "what's", "whatve": "what've", "whens": "when's", "whered": "where'd",
    "wheres": "where's", "whereve": "where've", "whod": "who'd", "whod've": "who'd've",
    "who'dve": "who'd've", "wholl": "who'll", "whos": "who's", "whove": "who've", "whyll": "why'll",
    "whyre": "why're", "whys": "why's", "wont": "won't", "wouldve": "would've", "wouldnt": "wouldn't",
    "wouldnt've": "wouldn't've", "wouldn'tve": "wouldn't've", "yall": "y'all", "yall'll": "y'all'll",
    "y'allll": "y'all'll", "yall'd've": "y'all'd've", "y'alld've": "y'all'd've", "y'all'dve": "y'all'd've",
    "youd": "you'd", "youd've": "you'd've", "you'dve": "you'd've", "youll": "you'll", "youre": "you're",
    "youve": "you've",
}  # fmt: skip

# vqaEval.py `self.manualMap`.
NUMBER_WORDS: dict[str, str] = {
    "none": "0", "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4",
    "five": "5", "six": "6", "seven": "7", "eight": "8", "nine": "9", "ten": "10",
}  # fmt: skip

# vqaEval.py `self.articles`.
ARTICLES: tuple[str, ...] = ("a", "an", "the")

# vqaEval.py `self.punct`, in its order (the order matters: each mark is handled in turn).
PUNCTUATION: tuple[str, ...] = (
    ";", "/", "[", "]", '"', "{", "}", "(", ")", "=", "+", "\\", "_", "-", ">", "<", "@", "`", ",", "?", "!",
)  # fmt: skip

_PERIOD_STRIP = re.compile(r"(?!<=\d)(\.)(?!\d)")  # `periodStrip`, look-ahead typo and all
_DIGIT_COMMA = re.compile(r"(\d)(\,)(\d)")  # `commaStrip`, only ever searched for
_PERIOD_STRIP_COUNT = int(re.UNICODE)  # the official call passes re.UNICODE (32) as `count`


def process_punctuation(text: str) -> str:
    """`processPunctuation`: delete or space out the marks, then drop periods not before a digit.

    A mark is deleted where the original text has it next to a space (so "a , b" does not grow a
    double space) or holds a digit comma anywhere (so "1,000" stays one number); elsewhere it
    becomes a space, splitting "x-ray" into two words. Case is kept.
    """
    delete_all = _DIGIT_COMMA.search(text) is not None
    out = text
    for mark in PUNCTUATION:
        if delete_all or mark + " " in text or " " + mark in text:
            out = out.replace(mark, "")
        else:
            out = out.replace(mark, " ")
    return _PERIOD_STRIP.sub("", out, count=_PERIOD_STRIP_COUNT)


def process_digit_article(text: str) -> str:
    """`processDigitArticle`: lower-case, number words to digits, drop articles, expand contractions.

    Works on whitespace-split words, so it also collapses runs of spaces.
    """
    words = [NUMBER_WORDS.get(word, word) for word in text.lower().split()]
    words = [word for word in words if word not in ARTICLES]
    return " ".join(CONTRACTIONS.get(word, word) for word in words)


def _clean(text: str) -> str:
    """The step every answer and the prediction get: newlines and tabs to spaces, then strip."""
    return text.replace("\n", " ").replace("\t", " ").strip()


def normalize_answer(text: str) -> str:
    """The full normalisation: what both sides get when a question's answers are not unanimous."""
    return process_digit_article(process_punctuation(_clean(text)))


def question_accuracy(prediction: str, gt_answers: Sequence[str]) -> float:
    """One question's accuracy: the mean over leave-one-out subsets of min(1, matches / 3).

    Both sides are cleaned (newlines, tabs, surrounding space); they are fully normalised only
    when the cleaned answers are not all the same string, as master's loop does.
    """
    if not gt_answers:
        raise InputError("a VQA question needs at least one ground-truth answer")
    gts = [_clean(answer) for answer in gt_answers]
    predicted = _clean(prediction)
    if len(set(gts)) > 1:
        gts = [process_digit_article(process_punctuation(answer)) for answer in gts]
        predicted = process_digit_article(process_punctuation(predicted))
    matching = sum(1 for answer in gts if answer == predicted)
    # Leaving out a matching answer sees matching - 1 matches; leaving out another sees matching.
    scores = [min(1, float(matching - (answer == predicted)) / 3) for answer in gts]
    return float(sum(scores)) / len(scores)


def vqa_accuracy(predictions: Mapping[str, str], answers: Mapping[str, Sequence[str]]) -> MetricResult:
    """Mean VQA accuracy over the predicted ids.

    `per_sample` follows the key order of `predictions` (the ids the scorer was given). Every
    predicted id needs its answers; answers for ids that were not predicted are ignored, so the
    whole split's answers can be passed when scoring a subset.
    """
    check_ids(predictions, answers, "ground-truth answers")
    per_sample = [question_accuracy(predictions[qid], answers[qid]) for qid in predictions]
    return mean_result(
        per_sample,
        {"name": "vqa_accuracy", "rule": "vqav2", "reference": REFERENCE, "source": SOURCE, "version": VERSION},
    )
