"""docs/metrics.md is generated from the metric definitions and must not drift from them."""

import re
from pathlib import Path

from vlmperf.metrics.definitions import METRICS
from vlmperf.metrics.docs import render

ROOT = Path(__file__).resolve().parents[1]


def test_metrics_doc_is_up_to_date():
    committed = (ROOT / "docs" / "metrics.md").read_text()
    assert committed == render(), "run `python -m vlmperf.metrics.docs` and commit docs/metrics.md"


def _documented() -> set[str]:
    """The names the committed docs/metrics.md defines: the first cell of each table row."""
    committed = (ROOT / "docs" / "metrics.md").read_text()
    return set(re.findall(r"^\| `([a-z0-9_]+)` \|", committed, flags=re.M))


def test_metrics_doc_defines_every_registered_name():
    from vlmperf.metrics.definitions import CELL_FIGURES
    from vlmperf.scoring.definitions import QUALITY_METRICS

    registered = set(METRICS) | set(CELL_FIGURES) | set(QUALITY_METRICS)
    assert registered - _documented() == set(), "a registered metric is missing from docs/metrics.md"
    assert "compile_s" in _documented()


def test_every_figure_a_stored_cell_holds_is_documented(small_run, tmp_path):
    """Every key of a real local run's and a real endpoint run's cell summaries is a documented name."""
    import vlmperf.api as vp

    from fixtures import scripted_server as ss

    _, document, _ = small_run
    config = tmp_path / "endpoint.yaml"
    with ss.ScriptedServer([ss.stream_reply(["a", "b"], 0.001, usage=(20, 2))]) as server:
        config.write_text(
            f"target: {{kind: endpoint, preset: vllm, base_url: '{server.base_url}', model: tiny}}\n"
            "workload: {task: vqa, limit: 3}\nscenario: {kind: single-stream}\nmeasure: {min_runs: 3, warmup_runs: 0}\n"
        )
        outcome = vp.run(config, out=tmp_path / "results")
    endpoint = vp.report(outcome.run_id, out=tmp_path / "results")
    held = {name for doc in (document, endpoint) for cell in doc["cells"] for name in cell["metrics"]}
    assert {"latency_s", "e2e_s", "requests", "error_rate", "vqa_accuracy"} <= held, "both kinds were measured"
    assert held - _documented() == set()


def test_quality_definitions_name_exactly_the_metrics_scorers_produce():
    from vlmperf.runner.agreement import METRIC as AGREEMENT
    from vlmperf.scoring.by_task import SCORING, ScoringSession
    from vlmperf.scoring.definitions import QUALITY_METRICS

    every_option = ScoringSession(normalised_text_errors=True)
    produced = {name for scoring in SCORING.values() for name in scoring.metric_names(every_option)} | {AGREEMENT}
    assert produced == set(QUALITY_METRICS)
    text = render()
    assert all(f"| `{name}` |" in text for name in QUALITY_METRICS)
