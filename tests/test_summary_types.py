"""A cell summary's declared shapes (`metrics.summary_types`) match what the producers build, key for key,
and the readers' accessors pick the right entries. Stored summaries of real runs are checked against the
same shapes in tests/test_cli_run.py (local) and tests/test_endpoint_run.py (endpoint)."""

from __future__ import annotations

import json

import pytest

from vlmperf.config.spec import Scenario
from vlmperf.metrics.cell_summary import summarize_records
from vlmperf.metrics.load_figures import load_figures
from vlmperf.metrics.summary import STATISTICS, summarize
from vlmperf.metrics.summary_types import FigureValue, MetricSummary, ScoreValue, figure, interval, statistic
from vlmperf.runner.agreement import agreement
from vlmperf.scoring.result import mean_result

from fixtures.summary_shapes import assert_declared, conforms, shapes_with_keys

LOCAL_RECORD = {
    "batch_size": 2,
    "latency_s": 0.2,
    "ttft_s": 0.05,
    "decode_steps": 4,
    "preprocess_s": 0.01,
    "peak_memory_bytes": 1000,
    "input_tokens": [30, 31],
    "vision_tokens": [16, 16],
    "output_tokens": [4, 3],
    "truncated_tokens": [0, 0],
    "outputs": ["a cat", "a dog"],
    "captions": [1, 1],
}
ENDPOINT_RECORD = {
    "backend": "endpoint",
    "scheduled_s": 0.0,
    "started_s": 0.0,
    "end_s": 0.1,
    "captions": [3],
    "error": None,
    "served_by": "novita",
    "served_by_source": "header",
}


def test_the_declared_distribution_is_the_statistics_then_ci95_in_the_public_order():
    assert tuple(MetricSummary.__annotations__) == (*STATISTICS, "ci95")
    stats = summarize([3.0, 1.0, 2.0, 5.0, 4.0])
    assert stats is not None
    assert tuple(stats) == tuple(MetricSummary.__annotations__), "same keys, same order: the JSON stays as it was"


def test_optional_keys_are_optional():
    """NotRequired holds only with evaluated annotations: summary_types must not use string annotations."""
    assert MetricSummary.__optional_keys__ == frozenset()
    assert FigureValue.__required_keys__ == {"value"}
    assert FigureValue.__optional_keys__ == {"by_class", "why", "source"}
    assert ScoreValue.__required_keys__ == {"value", "ci95", "n"}
    assert ScoreValue.__optional_keys__ == {"reference_cell"}


def test_each_entry_matches_exactly_one_shape():
    assert shapes_with_keys({"value": 1}) == [FigureValue]
    assert shapes_with_keys({"value": 1.0, "ci95": None, "n": 3}) == [ScoreValue]
    assert shapes_with_keys({**dict.fromkeys(STATISTICS, 1.0), "ci95": None}) == [MetricSummary]
    assert shapes_with_keys({"value": 1, "extra": 2}) == [], "an undeclared key matches nothing"
    assert shapes_with_keys({"p50": 1.0}) == [], "a missing key matches nothing"


def test_the_type_check_of_a_stored_value():
    assert conforms(3, float) and conforms(3.5, float) and not conforms(True, float) and not conforms("3", float)
    assert conforms(None, list[float] | None) and conforms([1.0, 2], list[float] | None)
    assert conforms({"a": 1}, float | bool | dict[str, int] | None) and not conforms({"a": "x"}, dict[str, int])


def test_what_the_producers_build_is_declared():
    records = [
        ENDPOINT_RECORD,
        {**ENDPOINT_RECORD, "scheduled_s": 0.1, "started_s": 0.1, "error": {"class": "http_5xx"}, "captions": None},
    ]
    figures = load_figures(records, Scenario(kind="rate", rate=10))
    assert {"served_by", "total_captions", "error_rate", "client_bound"} <= set(figures)
    result = mean_result([1.0, 0.0, 1.0, 1.0, 1.0], {"name": "test"})
    score = agreement({"a": "x", "b": "y"}, {"a": "x", "b": "z"})
    assert score is not None
    summary = {
        **summarize_records([LOCAL_RECORD]),
        **figures,
        "wer": result.as_dict(),
        "agreement_vs_reference": {**score, "reference_cell": "c0"},
    }
    assert_declared(json.loads(json.dumps(summary)), "built")


def test_a_summary_that_strays_from_its_shape_is_caught():
    with pytest.raises(AssertionError, match="requests: keys"):
        assert_declared({"requests": {"value": 1, "n": 1}})
    with pytest.raises(AssertionError, match="declared types"):
        assert_declared({"latency_s": {**dict.fromkeys(STATISTICS, 1.0), "ci95": "wide"}})


def test_readers_take_numbers_intervals_and_figures_by_name():
    summary = json.loads(
        json.dumps(
            {
                **summarize_records([{**LOCAL_RECORD, "latency_s": s} for s in (1.0, 2.0, 3.0, 4, 5)]),
                "client_bound": {"value": True, "why": ["event-loop lag"]},
                "served_by": {"value": {"novita": 3}, "source": "header"},
                "wer": {"value": 0.25, "ci95": [0.1, 0.4], "n": 8},
            }
        )
    )
    assert statistic(summary, "latency_s", "p50") == 3.0 and statistic(summary, "latency_s", "n") == 5
    assert statistic(summary, "wer", "value") == 0.25
    assert statistic(summary, "client_bound", "value") is None, "a flag is not a number"
    assert statistic(summary, "served_by", "value") is None and statistic(summary, "nothing", "p50") is None
    assert interval(summary, "wer") == (0.1, 0.4) and interval(summary, "client_bound") is None
    low, high = interval(summary, "latency_s") or (0, 0)
    assert low < 3.0 < high
    assert figure(summary, "client_bound") == {"value": True, "why": ["event-loop lag"]}
    assert figure(summary, "wer") is None and figure(summary, "latency_s") is None and figure(summary, "x") is None
