"""Quality of a cell, scored on the very outputs its latency was measured on.

When a cell finishes, its outputs (each sample's first) are scored against the samples'
references with the task's scoring (`vlmperf.scoring.by_task`), and the figures join the cell's
summary beside its speed, each with its bootstrap interval. One scoring session serves the whole
run, so METEOR's Java process starts once. A group measured in a child process or on a Ray worker
scores nothing there: `DeferredQuality` sends the cell's outputs up with its info, and the parent
scores them with the run's one session (`complete_pending`), so no child starts Java of its own.
Without the `quality` extra (or without Java for the caption metrics) the cell keeps its speed
figures and its info says why quality is missing: a quality figure is never replaced by a different
one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from vlmperf.errors import VlmperfError
from vlmperf.metrics.summary_types import CellSummary, ScoreValue
from vlmperf.store.outputs import first_outputs
from vlmperf.workloads.sample import Sample


class CellQuality(Protocol):
    """What a group's runner needs of quality: a finished cell's scores (`RunQuality` scores them; in a
    child, `DeferredQuality` hands the outputs up instead)."""

    def score(
        self, task: str, records: list[dict[str, Any]], samples: list[Sample], where: str
    ) -> tuple[dict[str, ScoreValue], dict[str, Any]]: ...


class RunQuality:
    """Scores finished cells; close() ends the scoring session (METEOR's Java process).

    `normalised_text_errors` is the run's `scoring.normalised_text_errors`.
    """

    def __init__(self, *, normalised_text_errors: bool = False) -> None:
        self._normalised_text_errors = normalised_text_errors
        self._session: Any = None

    def score(
        self, task: str, records: list[dict[str, Any]], samples: list[Sample], where: str
    ) -> tuple[dict[str, ScoreValue], dict[str, Any]]:
        """(metrics to add to the summary, what to record in the cell's info)."""
        try:
            outputs = first_outputs(records, where)
        except VlmperfError as exc:
            return {}, {"not_scored": str(exc)}
        return self.score_outputs(task, outputs, samples, where)

    def score_outputs(
        self, task: str, outputs: dict[str, str], samples: list[Sample], where: str
    ) -> tuple[dict[str, ScoreValue], dict[str, Any]]:
        """`score` for each sample's output, already taken from the records."""
        try:
            from vlmperf.scoring.by_task import ScoringSession, get_scoring
        except ImportError as exc:
            return {}, {"not_scored": f"quality needs the quality extra: pip install 'vlmperf[quality]' ({exc.name})"}
        try:
            scoring = get_scoring(task)
            references = scoring.references_from_samples({s.id: s for s in samples}, list(outputs), where)
            if self._session is None:
                self._session = ScoringSession(normalised_text_errors=self._normalised_text_errors)
            results = scoring.score(outputs, references, self._session)
        except VlmperfError as exc:
            return {}, {"not_scored": str(exc)}
        metrics = {name: result.as_dict() for name, result in results.items()}
        info = {
            "task": scoring.name,
            "samples_scored": len(outputs),
            "implementation": {name: result.implementation for name, result in results.items()},
        }
        return metrics, info

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None


PENDING = "pending"
"""Key of `info.quality` while a cell's outputs wait for the parent to score them."""


class DeferredQuality:
    """RunQuality's stand-in in a child: hands the outputs on instead of scoring them."""

    def score(
        self, task: str, records: list[dict[str, Any]], samples: list[Sample], where: str
    ) -> tuple[dict[str, ScoreValue], dict[str, Any]]:
        try:
            return {}, {PENDING: {"task": task, "outputs": first_outputs(records, where)}}
        except VlmperfError as exc:
            return {}, {"not_scored": str(exc)}

    def close(self) -> None: ...


def complete_pending(
    quality: RunQuality, summary: CellSummary, info: dict[str, Any], samples: Callable[[], list[Sample]], where: str
) -> tuple[CellSummary, dict[str, Any]]:
    """A finished cell's summary and info with its pending outputs scored against `samples()` (called
    only then); unchanged when nothing is pending."""
    pending = (info.get("quality") or {}).get(PENDING)
    if pending is None:
        return summary, info
    metrics, quality_info = quality.score_outputs(pending["task"], pending["outputs"], samples(), where)
    return {**summary, **metrics}, {**info, "quality": quality_info}
