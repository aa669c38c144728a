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
