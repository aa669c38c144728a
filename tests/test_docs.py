"""docs/metrics.md is generated from the metric definitions and must not drift from them."""

from pathlib import Path

from vlmperf.metrics.definitions import METRICS
from vlmperf.metrics.docs import render

ROOT = Path(__file__).resolve().parents[1]


def test_metrics_doc_is_up_to_date():
    committed = (ROOT / "docs" / "metrics.md").read_text()
    assert committed == render(), "run `python -m vlmperf.metrics.docs` and commit docs/metrics.md"


def test_metrics_doc_names_every_metric():
    text = render()
    for name in METRICS:
        assert f"`{name}`" in text


def test_quality_definitions_name_exactly_the_metrics_scorers_produce():
    from vlmperf.runner.agreement import METRIC as AGREEMENT
    from vlmperf.scoring.by_task import SCORING, ScoringSession
    from vlmperf.scoring.definitions import QUALITY_METRICS

    every_option = ScoringSession(normalised_text_errors=True)
    produced = {name for scoring in SCORING.values() for name in scoring.metric_names(every_option)} | {AGREEMENT}
    assert produced == set(QUALITY_METRICS)
    text = render()
    assert all(f"| `{name}` |" in text for name in QUALITY_METRICS)
