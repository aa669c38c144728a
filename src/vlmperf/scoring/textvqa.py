"""TextVQA accuracy computed exactly as lmms-eval's `textvqa` task and LLaVA's evaluator compute it.

Why its own module: TextVQA figures are published with the EvalAI answer processor (from
facebookresearch/mmf, the TextVQA authors' code base), not with VQAv2's `vqaEval.py`, and the two
rules give different numbers on the same outputs. The rule followed here is lmms-eval's
`textvqa_process_results` (lmms_eval/tasks/textvqa/utils.py) with its `EvalAIAnswerProcessor`
(lmms_eval/tasks/_task_utils/vqa_eval_metric.py), at lmms-eval 75571cfe; LLaVA's
`llava/eval/m4c_evaluator.py` (`EvalAIAnswerProcessor`, `TextVQAAccuracyEvaluator`) at c121f043
computes the same figure. `tests/data/textvqa/reference_textvqa_eval.py` and
`reference_m4c_evaluator.py` transcribe them; the tests compare this module with each and the two
with each other.

How one question is scored:

1. The prediction and every answer go through the EvalAI answer processor (`process_answer`),
   always, whether or not the answers agree (VQAv2's master rule normalises only split crowds).
2. Leave-one-out over the answers by position: per left-out answer, min(1, matches among the
   others / 3); the question scores the mean of those, so 0/1/2/3/4+ of 10 answers equal to the
   prediction score 0, 0.3, 0.6, 0.9, 1.0.
3. The set figure is the plain mean over questions (lmms-eval's `mean` aggregation under the
   metric name `exact_match`; LLaVA prints 100 x it with 2 decimals).

The answer processor is VQAv2's normalisation with a different front: the text is lower-cased,
every "," and "?" deleted, "'s" split off as " 's", then newlines and tabs become spaces and the
text is stripped; then VQAv2's punctuation step and its number-word / article / contraction step
run unchanged (same tables, same look-ahead period typo, same 32-period limit from `re.UNICODE`
passed as the count, same capitalised contraction keys that never match). So: "1,000" becomes
"1000" by the comma deletion, "what's" becomes "what 's", and a mark beside a space is deleted.
The processor's own digit-comma test, `(?<=\\d)(\\,)+(?=\\d)`, differs from VQAv2's
`(\\d)(\\,)(\\d)`, but both look for a comma and every comma is gone by then, so neither ever
fires and VQAv2's punctuation step can be reused as it is.

Where lmms-eval and LLaVA differ (none of it changes a figure beyond the last bit):

- The per-question mean: lmms-eval uses `statistics.mean` (exact, correctly rounded), LLaVA
  `sum / len` (float addition); on 10 answers 35 of the 1024 match patterns differ in the last
  bit (about 1e-16). This module follows lmms-eval.
- LLaVA asserts exactly 10 answers; lmms-eval takes any non-empty list (an empty one raises
  there). This module takes any non-empty list; the `textvqa` task's input check asks for 10.
- LLaVA scores each distinct processed answer and looks the prediction up (0 when absent);
  lmms-eval counts matches with the prediction directly. Same numbers.
- The two `EvalAIAnswerProcessor` classes are the same code (identical syntax trees).

What lmms-eval does around the scorer is not part of it: which text the model adapter returns
(`result[0]`, after the `until: ["ASSISTANT:"]` stop) and the `ignore_case` / `ignore_punctuation`
keys of `textvqa_val.yaml`, which a task with its own `process_results` does not use.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence

from vlmperf.errors import InputError
from vlmperf.scoring.result import MetricResult, check_ids, mean_result
from vlmperf.scoring.vqa import process_digit_article, process_punctuation

LMMS_EVAL_SHA = "75571cfe0fa36ca5ec2e6aa2bb268f9d38295af3"
LLAVA_SHA = "c121f0432da27facab705978f83c4ada465e46fd"
SOURCE = (
    "EvolvingLMMs-Lab/lmms-eval lmms_eval/tasks/textvqa/utils.py+lmms_eval/tasks/_task_utils/vqa_eval_metric.py"
    f"@{LMMS_EVAL_SHA}; haotian-liu/LLaVA llava/eval/m4c_evaluator.py@{LLAVA_SHA}"
)
REFERENCE = "TextVQA accuracy with the EvalAI answer processor, as lmms-eval's textvqa task and LLaVA's m4c evaluator"
VERSION = "1"


def _tokenize_front(text: str) -> str:
    """The processor's first pass (`word_tokenize` and the whitespace clean-up).

    Lower-casing comes first, so "'S" splits like "'s" and capitalised contraction keys can never
    match later. The comma and question-mark deletion is what turns "1,000" into "1000".
    """
    text = text.lower().replace(",", "").replace("?", "").replace("'s", " 's").strip()
    return text.replace("\n", " ").replace("\t", " ").strip()


def process_answer(text: str) -> str:
    """The EvalAI answer processor: the normalisation both the prediction and every answer get."""
    return process_digit_article(process_punctuation(_tokenize_front(text)))


def question_accuracy(prediction: str, answers: Sequence[str]) -> float:
    """One question's accuracy: the exact mean over leave-one-out subsets of min(1, matches / 3)."""
    if not answers:
        raise InputError("a TextVQA question needs at least one ground-truth answer")
    predicted = process_answer(prediction)
    processed = [process_answer(answer) for answer in answers]
    matching = sum(1 for answer in processed if answer == predicted)
    # Leaving out a matching answer sees matching - 1 matches; leaving out another sees matching.
    scores = [min(1, float(matching - (answer == predicted)) / 3) for answer in processed]
    return float(statistics.mean(scores))


def textvqa_accuracy(predictions: Mapping[str, str], answers: Mapping[str, Sequence[str]]) -> MetricResult:
    """Mean TextVQA accuracy over the predicted ids.

    `per_sample` follows the key order of `predictions`. Every predicted id needs a non-empty
    list of answers; answers for ids that were not predicted are ignored.
    """
    check_ids(predictions, answers, "ground-truth answers")
    per_sample = [question_accuracy(predictions[qid], answers[qid]) for qid in predictions]
    return mean_result(
        per_sample,
        {"name": "vqa_accuracy", "rule": "textvqa", "reference": REFERENCE, "source": SOURCE, "version": VERSION},
    )
