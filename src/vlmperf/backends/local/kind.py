"""The local target kind: a model loaded in this process with transformers (see `TargetKind`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from vlmperf.backends.local.target import LocalTarget
from vlmperf.backends.target_kind import KindReport, TargetKind

if TYPE_CHECKING:
    from vlmperf.runner.plan import Cell


def _group_key(cell: Cell) -> str:
    """Cells with the same target (every target field decides how the model is loaded) share one model."""
    return cell.spec.target.model_dump_json()


def _device(target: LocalTarget) -> str:
    return target.device


LOCAL = TargetKind(
    name="local",
    title="Local models",
    spec=LocalTarget,
    scenarios=("offline",),
    hooks="vlmperf.backends.local.hooks",
    group_key=_group_key,
    device=_device,
    metric_modules=(
        "vlmperf.metrics.stages",
        "vlmperf.metrics.energy",
        "vlmperf.metrics.flops",
        "vlmperf.metrics.limits",
        "vlmperf.metrics.optimisations",
    ),
    report=KindReport(
        headline=(
            ("latency_s", "p50", "latency_ms p50"),
            ("latency_s", "p90", "latency_ms p90"),
            ("latency_per_sample_s", "p50", "ms/sample p50"),
            ("ttft_s", "p50", "ttft_ms p50"),
            ("tpot_s", "p50", "tpot_ms p50"),
            ("throughput_samples_per_s", "p50", "samples/s p50"),
            ("throughput_output_tokens_per_s", "p50", "out_tok/s p50"),
            ("output_tokens", "mean", "out_tok mean"),
            ("peak_memory_bytes", "max", "peak_MiB max"),
        ),
        latency="latency_s",
        bar_latencies=("latency_s",),
        sweep_plots=("latency_s", "throughput_samples_per_s", "energy_per_sample_j", "flops"),
        costs={"latency": "latency_per_sample_s", "energy": "energy_per_sample_j"},
        study_table="points",
        roofline=True,
    ),
)
"""Its metrics are also those of `vlmperf.metrics.definitions` itself, the registry's home."""
