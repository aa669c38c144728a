"""The endpoint target kind: a model behind an OpenAI-compatible `/chat/completions` endpoint (see
`TargetKind`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from vlmperf.backends.endpoint.target import EndpointTarget
from vlmperf.backends.target_kind import KindReport, TargetKind

if TYPE_CHECKING:
    from vlmperf.config.spec import CellSpec
    from vlmperf.runner.plan import Cell


def _fits(spec: CellSpec) -> None:
    """Settings of the workload and generation that only a local model can honour."""
    if spec.workload.max_input_len is not None:
        raise ValueError(
            "workload.max_input_len applies to local models (it cuts the prompt with the model's tokenizer); "
            "leave it out for endpoints"
        )
    if spec.generation.mode == "fixed":
        raise ValueError(
            "generation.mode fixed applies to local models; an endpoint stops where it stops "
            "(vLLM and SGLang accept target.extra_body: {ignore_eos: true} for fixed lengths)"
        )


def _group_key(cell: Cell) -> str:
    """Endpoint cells equal in everything but the target run together, in one time window."""
    return cell.spec.model_dump_json(exclude={"target"})


ENDPOINT = TargetKind(
    name="endpoint",
    title="Endpoints",
    spec=EndpointTarget,
    scenarios=("single-stream", "concurrent", "rate"),
    hooks="vlmperf.backends.endpoint.hooks",
    group_key=_group_key,
    fits=_fits,
    metric_modules=("vlmperf.backends.endpoint.metrics", "vlmperf.metrics.load_figures"),
    report=KindReport(
        headline=(
            ("e2e_s", "mean", "e2e_ms mean"),
            ("e2e_s", "p50", "e2e_ms p50"),
            ("e2e_s", "min", "e2e_ms min"),
            ("e2e_s", "max", "e2e_ms max"),
            ("ttft_s", "p50", "ttft_ms p50"),
            ("itl_s", "p50", "itl_ms p50"),
            ("output_chars", "mean", "chars mean"),
            ("captions_per_request", "mean", "captions/req"),
            ("total_captions", "value", "captions"),
            ("requests", "value", "requests"),
            ("error_rate", "value", "errors"),
            ("client_bound", "value", "client_bound"),
        ),
        latency="e2e_s",
        bar_latencies=("e2e_s", "ttft_s"),
        sweep_plots=("e2e_s", "ttft_s", "achieved_rate"),
        costs={"latency": "e2e_s"},
        cell_noun="provider",
        study_table="providers",
    ),
)
