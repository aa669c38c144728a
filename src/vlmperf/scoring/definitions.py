"""Every quality metric's public definition, for docs/metrics.md (the scorers hold the details).

Quality metrics are figures over a set of outputs, not distributions over records: each is
reported as `{value, ci95, n}` with the implementation that computed it. This table is what the
generated docs say about each; a test checks it names exactly the metrics the task scorings and
the agreement check produce.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class QualityMetric:
    name: str
    implementation: str
    definition: str


_CAPTIONS = "pycocoevalcap 1.2 (COCO caption evaluation), PTB tokenizer (Java), captions tokenised once for all"
_JIWER = "jiwer, text normalised (lower-case, punctuation deleted, whitespace collapsed)"

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
        QualityMetric("meteor", _CAPTIONS, "METEOR 1.5 (the jar pycocoevalcap ships): aggregate over all segments' statistics."),
        QualityMetric("rouge_l", _CAPTIONS, "Mean over images of ROUGE-L F (beta 1.2) against the best-matching reference."),
        QualityMetric("cider", _CAPTIONS, "Mean over images of CIDEr-D (tf-idf weighted n-grams 1-4, Gaussian length penalty, x10)."),
        QualityMetric(
            "wer", _JIWER,
            "(substitutions + deletions + insertions) / reference words, over each sample paired with its closest "
            "reference (lowest WER); a corpus figure, not the mean of per-sample rates.",
        ),
        QualityMetric(
            "cer", _JIWER,
            "(substitutions + deletions + insertions) / reference characters, over each sample paired with its "
            "closest reference (lowest CER).",
        ),
        QualityMetric(
            "vqa_accuracy", "the official VQA evaluation's normalisation and formula",
            "Mean over questions of the mean over the 10 leave-one-out subsets of 9 human answers of "
            "min(1, matching answers / 3), after the official answer normalisation (punctuation, number words, "
            "articles, contractions).",
        ),
        QualityMetric(
            "exact_match", "the VQA answer normalisation on both sides",
            "Share of predictions equal to at least one answer once both went through the full VQA normalisation.",
        ),
        QualityMetric(
            "mcq_accuracy", "vlmperf's deterministic choice parser (vlmperf.scoring.mcq)",
            "Share of samples whose output parses to the right choice; a parse failure counts as wrong.",
        ),
        QualityMetric(
            "parse_failure_rate", "vlmperf's deterministic choice parser (vlmperf.scoring.mcq)",
            "Share of samples whose output names no choice, or more than one.",
        ),
        QualityMetric(
            "agreement_vs_reference", "exact string equality",
            "Share of samples whose first output equals, character for character, the first output of the same "
            "sample in the cell's reference cell (the cell equal to it but for the run's reference settings).",
        ),
    )
}
