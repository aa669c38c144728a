"""The local target kind: a model loaded in this process with transformers (see `TargetKind`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vlmperf.backends.local.target import LocalTarget
from vlmperf.backends.target_kind import KindReport, TargetKind

if TYPE_CHECKING:
    from vlmperf.config.spec import CellSpec
    from vlmperf.runner.plan import Cell


def _check(spec: CellSpec) -> None:
    """Model references, and an energy source named explicitly: what this machine lacks (a GPU, a
    package) fails its cells at load time instead, so a sweep over devices or optimisations still
    measures the cells this machine can run."""
    from vlmperf.backends.local.availability import silence_known_import_noise

    silence_known_import_noise()  # before the first import of transformers, which loading makes
    from vlmperf.backends.local.loading import check_model_references

    target = _local(spec)
    check_model_references(target)
    if spec.measure.energy not in ("auto", "none"):
        from vlmperf.backends.local.energy_context import check_energy_source

        check_energy_source(target.device, spec.measure.energy)


def _lacks(spec: CellSpec) -> str | None:
    """What this machine lacks for the cell (a GPU, flash-attn, bitsandbytes, a compiler), or None."""
    from vlmperf.backends.local.availability import check_target
    from vlmperf.errors import InputError

    try:
        check_target(_local(spec))
    except InputError as exc:
        return str(exc)
    return None


def _group_key(cell: Cell) -> str:
    """Cells with the same target (every target field decides how the model is loaded) share one model."""
    return cell.spec.target.model_dump_json()


def _run(*args: Any) -> int:
    from vlmperf.backends.local.availability import silence_known_import_noise

    silence_known_import_noise()  # again: a group may run in a fresh process (runner.executors)
    from vlmperf.backends.local.group import run_group

    return run_group(*args)


def _local(spec: CellSpec) -> LocalTarget:
    target = spec.target
    assert isinstance(target, LocalTarget)  # the registry hands this kind its own cells only
    return target


def _device(target: LocalTarget) -> str:
    return target.device


LOCAL = TargetKind(
    name="local",
    title="Local models",
    spec=LocalTarget,
    scenarios=("offline",),
    group_key=_group_key,
    run_group=_run,
    check=_check,
    lacks=_lacks,
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
