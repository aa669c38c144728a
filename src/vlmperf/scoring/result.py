"""What every scorer returns: a value, its per-sample scores and a 95% interval, and who computed it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vlmperf.errors import InputError
from vlmperf.metrics.summary import bootstrap_mean_ci
from vlmperf.metrics.summary_types import ScoreValue


@dataclass(frozen=True)
class MetricResult:
    """One quality metric over a set of samples.

    `value` is the figure the reference implementation reports for the whole set (for corpus-level
    metrics such as BLEU it is not the mean of `per_sample`). `per_sample` is aligned with the ids
    the scorer was given, or None where the metric has no per-sample form. `ci95` is a percentile
    bootstrap interval over samples (see `interval`), or None below 5 samples.
    """

    value: float
    per_sample: tuple[float, ...] | None
    ci95: tuple[float, float] | None
    implementation: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> ScoreValue:
        """The score as a cell's summary holds it (the per-sample scores and the implementation stay out)."""
        return {"value": self.value, "ci95": list(self.ci95) if self.ci95 else None, "n": len(self.per_sample or ())}


def interval(per_sample: Sequence[float], value: float | None = None) -> tuple[float, float] | None:
    """95% percentile bootstrap interval of the mean of per-sample scores, shifted onto `value`.

    For metrics whose set-level value is the mean of the per-sample scores the shift is zero. For
    corpus-level metrics (BLEU, METEOR) the interval of the per-sample mean is moved so it is
    centred the same way around the reported value: it describes how much the figure moves with
    the choice of samples, which is what a reader comparing two cells needs. Every quality score
    is non-negative, so a shifted bound below 0 is clipped to 0.
    """
    data = np.asarray(per_sample, dtype=float)
    ci = bootstrap_mean_ci(data)
    if ci is None:
        return None
    if value is None:
        return ci
    shift = value - float(data.mean())
    return max(0.0, ci[0] + shift), max(0.0, ci[1] + shift)


def check_ids(predictions: Mapping[str, Any], references: Mapping[str, Any], what: str) -> None:
    """Every predicted id must have its references (references for other ids are allowed)."""
    if not predictions:
        raise InputError("no predictions to score: give at least one prediction")
    missing = [key for key in predictions if key not in references]
    if missing:
        raise InputError(
            f"no {what} for {len(missing)} prediction id(s), first: {missing[:5]}; give every predicted id its {what}"
        )


def mean_result(per_sample: Sequence[float], implementation: dict[str, Any]) -> MetricResult:
    """A metric whose value is the mean of its per-sample scores."""
    scores = tuple(float(v) for v in per_sample)
    return MetricResult(sum(scores) / len(scores), scores, interval(scores), implementation)


def check_text_references(predictions: Mapping[str, str], references: Mapping[str, Sequence[str]]) -> list[str]:
    """The ids to score, in the order of `predictions`, where every prediction is a string with a
    non-empty list of reference strings; otherwise an InputError naming the first bad sample."""
    check_ids(predictions, references, "references")
    for key, text in predictions.items():
        if not isinstance(text, str):
            raise InputError(f"sample {key!r}: the prediction must be a string, got {type(text).__name__}")
        refs = references[key]
        if isinstance(refs, str) or not isinstance(refs, Sequence) or len(refs) == 0:
            raise InputError(f"sample {key!r}: references must be a non-empty list of strings, got {refs!r}")
        for i, ref in enumerate(refs):
            if not isinstance(ref, str):
                raise InputError(f"sample {key!r}: reference {i} must be a string, got {type(ref).__name__}")
    return list(predictions)
