"""Every quality metric's public definition, for docs/metrics.md (the scorers hold the details).

Quality metrics are figures over a set of outputs, not distributions over records: each is
reported as `{value, ci95, n}` with the implementation that computed it. This table is what the
generated docs say about each: the reference implementation (and version) it equals, or, for
vlmperf's own variants, that it is vlmperf's; and which way is better. A test checks it names
exactly the metrics the task scorings and the agreement check produce.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class QualityMetric:
    name: str
    implementation: str
    definition: str
    lower_is_better: bool = False


_CAPTIONS = "pycocoevalcap 1.2 (COCO caption evaluation), PTB tokenizer (Java), captions tokenised once for all"
_JIWER = "`jiwer.{call}(references, predictions)` with jiwer's default transforms (jiwer 4.0)"
_JIWER_NORMALISED = "jiwer 4.0 after vlmperf's normalisation (vlmperf's own variant, opt-in)"
_REFERENCE_PICK = (
    "Against one reference per sample: the only or first one (tasks `text`, `wer`, `cer`), or for caption tasks "
    "the closest (lowest per-sample rate, ties to the earlier)."
)
_VQA = (
    "task `vqa`: GT-Vision-Lab/VQA vqaEval.py at master a013f00 (2021-03-11); task `textvqa`: TextVQA's "
    "evaluator (EvalAI answer processor) as lmms-eval's `textvqa` task and LLaVA's m4c_evaluator.py run it"
)
_SQA = "lmms-eval `sqa_process_results` (tasks/scienceqa/utils.py, v0.3.5 and later)"
_LENIENT = "vlmperf's own deterministic choice parser (vlmperf.scoring.mcq), a superset of lmms-eval's rule"

QUALITY_METRICS: dict[str, QualityMetric] = {
    metric.name: metric
    for metric in (
        *(
            QualityMetric(
                f"bleu_{n}",
                _CAPTIONS,
                f"Corpus BLEU-{n}: clipped n-gram precisions up to {n}-grams, summed over all images, geometric "
                "mean times the brevity penalty from the closest reference lengths.",
            )
            for n in range(1, 5)
        ),
        QualityMetric(
            "meteor", _CAPTIONS, "METEOR 1.5 (the jar pycocoevalcap ships): aggregate over all segments' statistics."
        ),
        QualityMetric(
            "rouge_l", _CAPTIONS, "Mean over images of ROUGE-L F (beta 1.2) against the best-matching reference."
        ),
        QualityMetric(
            "cider",
            _CAPTIONS,
            "Mean over images of CIDEr-D (tf-idf weighted n-grams 1-4, Gaussian length penalty, x10).",
        ),
        QualityMetric(
            "wer",
            _JIWER.format(call="wer"),
            "(substitutions + deletions + insertions) / reference words over the whole set (a pooled figure, not "
            "the mean of per-sample rates); case and punctuation count, words split on spaces. " + _REFERENCE_PICK,
            lower_is_better=True,
        ),
        QualityMetric(
            "cer",
            _JIWER.format(call="cer"),
            "(substitutions + deletions + insertions) / reference characters over the whole set; case, "
            "punctuation and spaces count. " + _REFERENCE_PICK,
            lower_is_better=True,
        ),
        QualityMetric(
            "wer_normalised",
            _JIWER_NORMALISED,
            "`wer` after lower-casing, deleting punctuation (Unicode category P*) and collapsing whitespace on both "
            "sides; reported only with `scoring.normalised_text_errors` (or `vlmperf score --normalised-text-errors`).",
            lower_is_better=True,
        ),
        QualityMetric(
            "cer_normalised",
            _JIWER_NORMALISED,
            "`cer` after the same normalisation as `wer_normalised`; reported only when it is.",
            lower_is_better=True,
        ),
        QualityMetric(
            "vqa_accuracy",
            _VQA,
            "Mean over questions of the mean over the 10 leave-one-out subsets of 9 human answers of "
            "min(1, matching answers / 3), after the reference's own answer normalisation; the rule used is "
            "recorded with the figure (`implementation.rule`: `vqav2` or `textvqa`).",
        ),
        QualityMetric(
            "any_answer_match",
            "vlmperf's own figure, under the task's answer normalisation",
            "Share of predictions equal to at least one human answer once both went through the task's answer "
            "normalisation (VQAv2's for `vqa`, the EvalAI processor for `textvqa`).",
        ),
        QualityMetric(
            "mcq_accuracy",
            _SQA,
            "Share of samples scored right by lmms-eval's ScienceQA rule: the stripped output, lower-cased, equals "
            "the right letter lower-cased, or it starts with an upper-case character and a period and that "
            "character lower-cased is the right letter (Python's str.lower and str.isupper).",
        ),
        QualityMetric(
            "parse_failure_rate",
            _SQA,
            "Share of samples from whose output lmms-eval's rule reads no choice letter (neither a lone letter "
            "nor 'X.' at the start).",
            lower_is_better=True,
        ),
        QualityMetric(
            "mcq_accuracy_lenient",
            _LENIENT,
            "Share of samples whose output vlmperf's parser maps to the right choice ('(B)', 'The answer is B', "
            "the choice's text, ...); a parse failure counts as wrong.",
        ),
        QualityMetric(
            "parse_failure_rate_lenient",
            _LENIENT,
            "Share of samples whose output vlmperf's parser maps to no choice, or to more than one.",
            lower_is_better=True,
        ),
        QualityMetric(
            "agreement_vs_reference",
            "exact string equality",
            "Share of samples whose first output equals, character for character, the first output of the same "
            "sample in the cell's reference cell (the cell equal to it but for the run's reference settings).",
        ),
    )
}

LOWER_IS_BETTER_QUALITY = frozenset(name for name, metric in QUALITY_METRICS.items() if metric.lower_is_better)
"""The quality metrics where lower is better (the error rates); the report and compare read it."""
