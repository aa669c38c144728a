"""Every metric vlmperf reports, defined once per target kind: name (the public schema), unit,
level and formula.

A metric reads measurement records and yields values: one per record (`level="batch"`: a
generate call over a batch for a local model, one request for an endpoint), one per sample in
the record (`level="sample"`), one per gap between an endpoint's token chunks (`level="gap"`), or
one per energy window of consecutive timed runs (`level="window"`). A record says which backend made
it (`backend`, the default kind's when absent); a metric has one extractor per target kind it applies
to, whose docstring is its definition there (`ttft_s` of a local model and of an endpoint are measured
differently and say so). docs/metrics.md is generated from them. Local metrics are here and in the
modules the local kind names (stages, energy, FLOPs, limits, optimisations), another kind's in the
modules its `TargetKind.metric_modules` names (the endpoint's in `vlmperf.backends.endpoint.metrics`),
and metrics of the output text, the same for every kind, in `vlmperf.metrics.outputs`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib import import_module
from typing import Any, Literal

from vlmperf.backends.registry import DEFAULT_KIND, when_registered
from vlmperf.backends.target_kind import TargetKind

Record = dict[str, Any]
Extract = Callable[[Record], list[float | None]]
Better = Literal["lower", "higher"] | None
Level = Literal["batch", "sample", "gap", "window"]

BETTER_BY_UNIT: dict[str, Better] = {
    "s": "lower",
    "J": "lower",
    "W": "lower",
    "B": "lower",
    "FLOP": "lower",
    "USD": "lower",
    "count": "lower",
    "requests": "lower",
    "1/s": "higher",
    "FLOP/s": "higher",
    "ratio": "higher",
}
"""Which way is better for a metric of each unit, unless it says otherwise (`metric(..., better=)`): times,
energy, power, memory, FLOP counts, cost, recompiles and retries lower; rates and utilisations higher. Counts
that describe the work rather than judge it (tokens, chars, pixels) have no direction: a change is reported,
never a regression."""
DISPLAY_BY_UNIT: dict[str, tuple[float, str]] = {"s": (1e3, "ms"), "B": (1 / 2**20, "MiB")}
"""How tables and plots show a unit: (factor, unit shown); other units are shown as they are."""
ANY_KIND = "*"
"""`metric(..., targets=(ANY_KIND,))`: one definition for every target kind (the output text's metrics)."""
SI_UNITS = frozenset({"FLOP", "FLOP/s"})
"""Units shown with SI prefixes (18.6M) rather than scaled."""
MODULE_ORDER = (
    "vlmperf.metrics.definitions",
    "vlmperf.metrics.stages",
    "vlmperf.metrics.energy",
    "vlmperf.metrics.flops",
    "vlmperf.metrics.limits",
    "vlmperf.metrics.optimisations",
    "vlmperf.backends.endpoint.metrics",
    "vlmperf.metrics.outputs",
)
"""The order of the metrics (CSV columns, docs, tables), by the module defining them and then the order of
definition within it, whichever module happens to be imported first. Metrics of a module not listed
(a plug-in's) come after these."""


@dataclass
class Metric:
    name: str
    unit: str
    level: Level
    better: Better = None
    """Which way is better (`BETTER_BY_UNIT` unless the metric says otherwise), the one rule compare and the
    report use."""
    extractors: dict[str, Extract] = field(default_factory=dict)
    """One extractor per target kind the metric applies to (`ANY_KIND`: one for all)."""
    rank: tuple[int, int] = (0, 0)
    """Its place in `METRICS`: the rank of its module in `MODULE_ORDER`, then its order there."""

    def extractor(self, target: str) -> Extract | None:
        """How records of a target kind give this metric's values; None: it does not apply to them."""
        return self.extractors.get(target) or self.extractors.get(ANY_KIND)

    def definition(self, target: str) -> str:
        extract = self.extractor(target)
        return " ".join(((extract.__doc__ if extract else None) or "").split())

    @property
    def display(self) -> tuple[float, str]:
        """(factor, unit shown) for tables and plots: seconds as ms, bytes as MiB, the rest as they are."""
        return DISPLAY_BY_UNIT.get(self.unit, (1.0, self.unit))

    def values(self, records: Iterable[Record]) -> list[float | None]:
        """Every value of the records, each read by the extractor of the record's backend."""
        values: list[float | None] = []
        for record in records:
            extract = self.extractor(record.get("backend", DEFAULT_KIND))
            if extract is not None:
                values.extend(extract(record))
        return values


METRICS: dict[str, Metric] = {}
_UNSET: Any = object()


_LATER_MODULES: list[str] = []


def _rank(module: str) -> int:
    """A module's place: its index in MODULE_ORDER, or, for a module defined elsewhere (a plug-in's),
    after all of them in the order such modules first registered."""
    if module in MODULE_ORDER:
        return MODULE_ORDER.index(module)
    if module not in _LATER_MODULES:
        _LATER_MODULES.append(module)
    return len(MODULE_ORDER) + _LATER_MODULES.index(module)


def metric(
    name: str, unit: str, level: Level = "batch", targets: tuple[str, ...] = (DEFAULT_KIND,), better: Better = _UNSET
) -> Callable[[Extract], Extract]:
    """Register an extractor as the one definition of a metric for the given target kinds (by default the
    default kind, local models, whose metrics are most). `better`: which way is better, when the unit's rule
    (`BETTER_BY_UNIT`) is wrong for this metric."""
    direction = BETTER_BY_UNIT.get(unit) if better is _UNSET else better

    def register(extract: Extract) -> Extract:
        rank = (_rank(extract.__module__), len(METRICS))
        known = METRICS.setdefault(name, Metric(name, unit, level, direction, rank=rank))
        if (known.unit, known.level, known.better) != (unit, level, direction):
            raise ValueError(f"metric {name} is registered with two units, levels or directions")
        for target in targets:
            if target in known.extractors:
                raise ValueError(f"metric {name} is defined twice for {target} targets")
            known.extractors[target] = extract
        ordered = sorted(METRICS.values(), key=lambda m: m.rank)
        METRICS.clear()
        METRICS.update((m.name, m) for m in ordered)
        return extract

    return register


def metrics_for(target: str) -> dict[str, Metric]:
    """The metrics that apply to a target kind, in definition order."""
    return {name: m for name, m in METRICS.items() if m.extractor(target) is not None}


@dataclass(frozen=True)
class CellFigure:
    """A figure of a cell as a whole (one per cell, `{"value": ...}` in its summary), not a distribution over
    records: an endpoint cell's rates and errors, a compiled model's compile time."""

    name: str
    unit: str
    better: Better
    definition: str


CELL_FIGURES: dict[str, CellFigure] = {}


def cell_figure(name: str, unit: str, definition: str, better: Better = _UNSET) -> CellFigure:
    """Register a cell-level figure (its name is the summary key), with the unit's direction unless given."""
    if name in METRICS or name in CELL_FIGURES:
        raise ValueError(f"{name} is registered twice")
    direction = BETTER_BY_UNIT.get(unit) if better is _UNSET else better
    figure = CellFigure(name, unit, direction, " ".join(definition.split()))
    CELL_FIGURES[name] = figure
    return figure


@metric("latency_s", "s")
def _latency(record: Record) -> list[float | None]:
    """Wall time of one generate call over a batch, from the mark before it to the mark after it,
    read after one device synchronisation (CUDA events on GPU, perf_counter_ns on CPU).
    Preprocessing and copying inputs to the device are outside it."""
    return [record["latency_s"]]


@metric("latency_per_sample_s", "s")
def _latency_per_sample(record: Record) -> list[float | None]:
    """latency_s / batch_size: the share of a batch's latency that falls on each of its samples."""
    return [record["latency_s"] / record["batch_size"]]


@metric("ttft_s", "s")
def _ttft(record: Record) -> list[float | None]:
    """Time to first token: from the start of the generate call to the moment the first generated
    token of the batch exists (prefill, including the vision encoder, plus one sampling step), marked
    when generate checks its stopping criteria on it (a CUDA event on GPU: no device wait)."""
    return [record["ttft_s"]]


@metric("tpot_s", "s")
def _tpot(record: Record) -> list[float | None]:
    """Time per output token after the first: (latency_s - ttft_s) / (decode_steps - 1), where
    decode_steps is the number of tokens the batch generated per row (its longest output).
    Null when only one token was generated."""
    steps = record["decode_steps"]
    if record["ttft_s"] is None or steps < 2:
        return [None]
    return [(record["latency_s"] - record["ttft_s"]) / (steps - 1)]


@metric("throughput_samples_per_s", "1/s")
def _throughput_samples(record: Record) -> list[float | None]:
    """batch_size / latency_s of one generate call."""
    return [record["batch_size"] / record["latency_s"]]


@metric("throughput_output_tokens_per_s", "1/s")
def _throughput_tokens(record: Record) -> list[float | None]:
    """Sum of output_tokens over the batch / latency_s of one generate call."""
    return [sum(record["output_tokens"]) / record["latency_s"]]


@metric("input_tokens", "tokens", "sample")
def _input_tokens(record: Record) -> list[float | None]:
    """Tokens the language model reads for one sample: the templated prompt with its vision tokens,
    padding excluded (the sum of its attention mask), from the model's own tokenizer and processor."""
    return list(record["input_tokens"])


@metric("vision_tokens", "tokens", "sample")
def _vision_tokens(record: Record) -> list[float | None]:
    """Image placeholder tokens in one sample's input (the processor's image token), part of input_tokens."""
    return list(record["vision_tokens"])


@metric("output_tokens", "tokens", "sample")
def _output_tokens(record: Record) -> list[float | None]:
    """Tokens generated for one sample, up to and including its first end-of-sequence token;
    the padding generate adds after it is not counted."""
    return list(record["output_tokens"])


@metric("input_truncated_tokens", "tokens", "sample")
def _truncated(record: Record) -> list[float | None]:
    """Text tokens cut from one sample's prompt to fit workload.max_input_len (0 when it fit or no
    budget was set), counted with the model's tokenizer before the chat template is applied."""
    return list(record["truncated_tokens"])


@metric("peak_memory_bytes", "B")
def _peak_memory(record: Record) -> list[float | None]:
    """Peak memory during one generate call: CUDA max allocated bytes (reset before the call) on GPU;
    the process's peak resident set size on CPU, reset before the call where Linux allows it
    (source rss_peak_window), else the lifetime peak (rss_peak_lifetime)."""
    return [record["peak_memory_bytes"]]


@metric("preprocess_s", "s")
def _preprocess(record: Record) -> list[float | None]:
    """Time to turn a batch of samples into model inputs: prompt truncation, chat template, the
    processor (image transforms and tokenisation) and the copy to the device. Outside latency_s."""
    return [record["preprocess_s"]]


# The other metric modules register here, so importing the registry defines every metric (MODULE_ORDER orders them):
# the modules each target kind names, and the output text's, the same for every kind.
def _define_metrics_of(kind: TargetKind) -> None:
    for module in kind.metric_modules:
        import_module(module)


when_registered(_define_metrics_of)
from vlmperf.metrics import outputs as _outputs  # noqa: E402,F401,I001
