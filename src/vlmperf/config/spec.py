"""Typed specs of everything a run can be told, validated before any work starts.

Every field here is sweepable by its dotted name (`target.dtype`, `scenario.batch_size`, ...).
Unknown keys are errors, not ignored: a typo in a config must never silently measure the
default instead of what the user meant.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    Field,
    NonNegativeFloat,
    NonNegativeInt,
    PlainValidator,
    PositiveFloat,
    PositiveInt,
    SerializeAsAny,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails

from vlmperf.backends.registry import DEFAULT_KIND, KINDS
from vlmperf.backends.target_kind import ScenarioKind, TargetSpec
from vlmperf.config.errors_format import shown
from vlmperf.config.spec_base import INT64_MAX, INT64_MIN, SEED_WHY, WEEK_S, Spec, bounded
from vlmperf.workloads.datasets.spec import ColumnMap, DatasetSource
from vlmperf.workloads.tasks import PROMPT_FIELDS, TASKS

if TYPE_CHECKING:
    TaskName = str  # a registry name: the Literal below is built at run time, which a checker cannot read
else:
    TaskName = Literal[tuple(TASKS)]  # the registry is the one list of tasks


def _registered_target(value: Any) -> TargetSpec:
    """The target as the spec of its kind, looked up in the registry when the config is read (a kind
    registered at run time is accepted like a built-in one). A target without `kind` is the default
    kind's. Errors inside it carry the kind in their location (`target.endpoint.model`), as pydantic
    writes a tagged union's, so the error message can name the keys that kind allows."""
    if isinstance(value, TargetSpec):
        if KINDS.get(value.kind) is None or type(value) is not KINDS[value.kind].spec:
            raise ValueError(f"{type(value).__name__} is not the spec of a registered target kind")
        return value
    kind = value.get("kind", DEFAULT_KIND) if isinstance(value, dict) else DEFAULT_KIND
    if not isinstance(kind, str) or kind not in KINDS:
        expected = " or ".join(repr(name) for name in KINDS)
        raise ValidationError.from_exception_data(
            "target", [{"type": "literal_error", "loc": ("kind",), "input": kind, "ctx": {"expected": expected}}]
        )
    try:
        return KINDS[kind].spec.model_validate(value)
    except ValidationError as exc:
        raise _located_under(kind, exc) from None


def _located_under(part: str, error: ValidationError) -> ValidationError:
    """The same errors, with `part` put before each location."""
    details: list[InitErrorDetails] = []
    for problem in error.errors():
        detail = InitErrorDetails(type=problem["type"], loc=(part, *problem["loc"]), input=problem["input"])
        if "ctx" in problem:
            detail["ctx"] = problem["ctx"]
        details.append(detail)
    return ValidationError.from_exception_data(error.title, details)


Target = Annotated[SerializeAsAny[TargetSpec], PlainValidator(_registered_target)]
"""Any registered kind's target spec (`vlmperf.backends.registry`), dumped with all of its kind's fields."""


class Workload(Spec):
    """What is asked: a task over samples from a source, and how inputs are shaped."""

    task: TaskName = "caption"
    source: Literal["builtin", "procedural", "dataset"] = Field(
        "builtin", description="builtin photos, procedural shapes, or a dataset (hub, parquet, jsonl, imagefolder)"
    )
    dataset: DatasetSource | None = Field(
        None, description="where a dataset source reads (default for coco-caption, textvqa, scienceqa-img: lmms-eval's)"
    )
    columns: ColumnMap | None = Field(None, description="which dataset column holds what (default: the task's)")
    limit: PositiveInt | None = bounded(
        None,
        "a real study never needs more; procedural samples are all made in memory",
        "use at most this many samples (procedural: how many to make)",
        le=1_000_000,
    )
    seed: int = bounded(
        0, SEED_WHY, "seed of the procedural generator and of a dataset's subset", ge=INT64_MIN, le=INT64_MAX
    )
    prompt: str | None = Field(
        None, description="prompt template; fields: " + " ".join(f"{{{name}}}" for name in PROMPT_FIELDS)
    )
    ocr_tokens: bool = Field(False, description="textvqa: give the OCR tokens in the prompt, as lmms-eval's ocr option")
    max_input_len: PositiveInt | None = bounded(
        None,
        "longer than any model's context",
        le=10_000_000,
        description="token budget of the text prompt; a longer prompt has the fields its task lets be cut shortened "
        "(context, OCR tokens, then the question), never the choices or the instruction; a sample whose prompt cannot "
        "fit is left out and named in the cell's info (over_budget). Image tokens and the system sentence are not "
        "counted",
    )
    image_size: PositiveInt | None = bounded(
        None,
        "no VLM looks at more pixels; a bigger image costs gigabytes per sample",
        "resize images so the longer side is this many pixels",
        le=8192,
    )
    system_prompt: str | None = Field(
        None,
        min_length=1,
        description="a system sentence sent before the prompt: llava-vicuna-v1 (LLaVA's conv_vicuna_v1, as "
        "lmms-eval's llava model sends it) or any other text, used as written; none: no system message",
    )

    @model_validator(mode="after")
    def _dataset_settings_fit_the_source(self) -> Workload:
        if self.source != "dataset" and (self.dataset is not None or self.columns is not None):
            raise ValueError("dataset and columns apply to source: dataset only")
        if self.dataset is not None and (self.dataset.limit is not None or self.dataset.seed != 0):
            raise ValueError("set the subset with workload.limit and workload.seed, not dataset.limit / dataset.seed")
        return self


class Scenario(Spec):
    """How load is applied.

    - `offline` (local targets): fixed-size batches back to back;
    - `single-stream` (endpoints): one request at a time;
    - `concurrent` (endpoints): `concurrency` requests in flight, a new one as soon as one ends;
    - `rate` (endpoints): open loop, `rate` requests per second sent at scheduled times (constant
      spacing or Poisson arrivals), at most `concurrency` in flight when set.
    The default kind is the target's first: offline for a local model, single-stream for an endpoint.
    """

    kind: ScenarioKind | None = None
    batch_size: PositiveInt = bounded(
        1,
        "a real study never needs more; inputs this large exhaust memory",
        "offline: samples per generate call",
        le=4096,
    )
    concurrency: PositiveInt | None = bounded(
        None,
        "each request in flight holds a connection; more exhaust the machine's sockets",
        "concurrent: requests in flight; rate: the cap (none: no cap)",
        le=10_000,
    )
    rate: PositiveFloat | None = bounded(None, "no single client sends more", "rate: requests per second", le=100_000)
    arrival: Literal["constant", "poisson"] = Field("constant", description="rate: evenly spaced or Poisson arrivals")

    @model_validator(mode="after")
    def _settings_fit_the_kind(self) -> Scenario:
        if self.kind == "rate" and self.rate is None:
            raise ValueError("scenario kind rate needs scenario.rate (requests per second)")
        if self.kind == "concurrent" and self.concurrency is None:
            raise ValueError("scenario kind concurrent needs scenario.concurrency (requests in flight)")
        if self.kind not in ("rate", None) and self.rate is not None:
            raise ValueError("scenario.rate applies to kind rate only")
        if self.kind not in ("concurrent", "rate", None) and self.concurrency is not None:
            raise ValueError("scenario.concurrency applies to kinds concurrent and rate only")
        if self.kind not in ("offline", None) and self.batch_size != 1:
            raise ValueError("scenario.batch_size applies to kind offline (local models) only")
        return self


class Generation(Spec):
    """Decoding settings. Greedy unless `do_sample` is set.

    `max_new_tokens` left unset (or null) is the task's default, resolved when the cell is validated,
    so a cell's stored config and its id hold the number used (see `CellSpec`)."""

    max_new_tokens: PositiveInt | None = bounded(
        None,
        "longer than any model generates in one answer",
        le=65_536,
        description="most tokens to generate; default: the task's (lmms-eval's for the study tasks: coco-caption 64, "
        "scienceqa-img 16, textvqa 1024; 32 for caption, vqa, mcq, text)",
    )
    mode: Literal["natural", "fixed"] = Field(
        "natural", description="natural: stop at EOS; fixed: exactly max_new_tokens (for speed work)"
    )
    do_sample: bool = False
    temperature: float = bounded(
        1.0, "past this sampling is uniform noise", "sampling temperature (do_sample only)", gt=0, le=100
    )
    top_p: float = Field(1.0, gt=0, le=1, description="nucleus sampling mass (do_sample only)")
    seed: int = bounded(0, SEED_WHY, "seed of sampling", ge=INT64_MIN, le=INT64_MAX)

    @model_validator(mode="after")
    def _sampling_settings_need_sampling(self) -> Generation:
        if not self.do_sample and (self.temperature != 1.0 or self.top_p != 1.0):
            raise ValueError(
                "temperature and top_p only apply with do_sample: true; greedy decoding ignores them, "
                "so set do_sample: true or leave them out"
            )
        return self

    def token_limit(self) -> int:
        """`max_new_tokens` as a cell resolved it. Unresolved (a Generation used outside a cell) is a
        programming error: sending it on would let an endpoint or transformers pick their own limit."""
        if self.max_new_tokens is None:
            raise ValueError("generation.max_new_tokens is unresolved: validate the settings as a CellSpec first")
        return self.max_new_tokens


class Measure(Spec):
    """When to stop measuring a cell: after `min_runs` timed runs, `min_duration_s` seconds of them,
    and (with `every_sample`) once every sample of the workload has been through the model."""

    warmup_runs: int = bounded(
        1,
        "a real study never needs more untimed runs",
        ge=0,
        le=10_000,
        description="untimed runs first; endpoints send them as many at once as the scenario keeps in flight, "
        "so warmup_runs >= concurrency opens every connection before the measured window",
    )
    min_runs: PositiveInt = bounded(
        3, "a real study never needs more; each run is kept in memory", "timed runs at least", le=1_000_000_000
    )
    min_duration_s: float = bounded(
        0.0, "a week; a cell that needs longer never ends", "seconds of timed runs at least", ge=0, le=WEEK_S
    )
    every_sample: bool = Field(
        True, description="keep going until every sample was answered once, so quality covers the whole subset"
    )
    max_runs: PositiveInt = bounded(
        10_000,
        "a real study never needs more; each run is kept in memory",
        "hard cap on timed runs, whatever the duration",
        le=1_000_000_000,
    )
    max_error_rate: float = Field(
        0.5, ge=0, le=1, description="endpoints: stop a cell early once more than this share of its requests failed"
    )
    energy: Literal["auto", "nvml", "rapl", "none"] = Field(
        "auto",
        description="local: energy counter read at window edges (auto: NVML on GPU, RAPL on CPU where readable, "
        "else none); naming one that is not available is an error",
    )
    min_energy_window_s: PositiveFloat = bounded(
        1.0,
        "an hour; energy counters need seconds, not hours",
        "local, with an energy source: repeat batches until a window lasts this long",
        le=3600,
    )
    flops: bool = Field(True, description="local: count FLOPs in a pass of their own (once per distinct shape)")
    profile: bool = Field(
        False, description="local: time every module in a pass of its own and export a torch.profiler trace"
    )

    @model_validator(mode="after")
    def _cap_not_below_minimum(self) -> Measure:
        if self.max_runs < self.min_runs:
            raise ValueError(f"max_runs ({self.max_runs}) must be at least min_runs ({self.min_runs})")
        return self


class CellSpec(Spec):
    """One fully resolved configuration: what a cell measures."""

    target: Target = Field(default_factory=lambda: KINDS[DEFAULT_KIND].spec.model_validate({}))
    workload: Workload = Workload()
    scenario: Scenario = Scenario()
    generation: Generation = Generation()
    measure: Measure = Measure()

    @model_validator(mode="after")
    def _scenario_fits_the_target(self) -> CellSpec:
        kind = KINDS[self.target.kind]
        allowed = kind.scenarios
        if self.scenario.kind is None:  # validated again with its kind, so kind-specific checks apply
            resolved = Scenario.model_validate({**self.scenario.model_dump(), "kind": allowed[0]})
            object.__setattr__(self, "scenario", resolved)
        elif self.scenario.kind not in allowed:
            raise ValueError(
                f"scenario kind {self.scenario.kind} does not apply to {self.target.kind} targets; use one of: "
                + ", ".join(allowed)
            )
        self._resolve_task_defaults()
        kind.fits(self)
        return self

    def _resolve_task_defaults(self) -> None:
        """Fill `generation.max_new_tokens` from the task when the config left it unset.

        Only a cell resolves it: a run's base config (a RunSpec) keeps it unset, so a sweep over
        `workload.task` gives each cell its own task's default; an explicit value always wins."""
        if type(self) is not CellSpec or self.generation.max_new_tokens is not None:
            return
        default = TASKS[self.workload.task].max_new_tokens
        object.__setattr__(self, "generation", self.generation.model_copy(update={"max_new_tokens": default}))


class Sweep(Spec):
    """A grid over dotted config keys, times an optional explicit list of cells (overrides)."""

    grid: dict[str, list[Any]] = Field(default_factory=dict)
    cells: list[dict[str, Any]] = Field(default_factory=list)
    max_cells: PositiveInt = bounded(
        10_000,
        "the cells are all made and validated in memory before the first one runs",
        "most cells the grid times the explicit cells may expand to; the sweep is refused before it is expanded "
        "when it would make more",
        le=1_000_000,
    )

    def cell_count(self) -> int:
        """How many cells the grid times the explicit cells makes, before duplicates are dropped (not expanding it)."""
        return math.prod(len(values) for values in self.grid.values()) * max(1, len(self.cells))

    @field_validator("grid")
    @classmethod
    def _axes_not_empty(cls, grid: dict[str, list[Any]]) -> dict[str, list[Any]]:
        for key, values in grid.items():
            if not values:
                raise ValueError(f"sweep axis {shown(key)} has no values")
        return grid

    @model_validator(mode="after")
    def _not_too_many_cells(self) -> Sweep:
        count = self.cell_count()
        if count > self.max_cells:
            axes = " x ".join(str(len(values)) for values in self.grid.values()) or "1"
            raise ValueError(
                f"the sweep would make {count:,} cells ({axes} grid values x {max(1, len(self.cells))} explicit "
                f"cells), more than sweep.max_cells ({self.max_cells:,}): narrow the grid, or raise sweep.max_cells "
                "if you mean it"
            )
        return self


class Executor(Spec):
    """Where the groups of cells run: in this process, each in a child process, or as Ray tasks.

    Not part of any cell's config (and so not of its id): a cell measured by any executor is the
    same cell, which is what lets a run resume under another executor.
    """

    kind: Literal["local", "process", "ray"] = Field(
        "local",
        description="local: in this process; process: each group of cells sharing a model in a child process, so a "
        "crash, an out-of-memory kill or a hang fails those cells only; ray: each group a Ray task on a cluster",
    )
    cell_timeout_s: PositiveFloat | None = bounded(
        None,
        "a week; a longer cell is a hang, not a measurement",
        le=WEEK_S,
        description="process, ray: the most time one cell's steps (warm-up, timed runs, summary) may take in all; "
        "a group's own steps (loading the model, an endpoint group's load) may take this times its cell count",
    )
    max_retries: NonNegativeInt = bounded(
        1,
        "more restarts only hide a crashing group",
        le=100,
        description="process, ray: times a group is started again after its process or Ray worker died; the cell it "
        "was running is charged and fails once charged more than this",
    )
    memory_gb: PositiveFloat | None = bounded(
        None,
        "64 TB; no machine has more",
        le=65_536,
        description="process: a group's process is killed when its resident memory passes this; ray: the memory each "
        "group's task asks the scheduler for",
    )
    cpus: PositiveFloat = bounded(1.0, "no node has more", "ray: CPUs each group's task asks for", le=4096)
    gpus: NonNegativeFloat | None = bounded(
        None,
        "no node has more",
        le=1024,
        description="ray: GPUs each group's task asks for (default: 1 for a local target on cuda, else 0)",
    )
    ray_address: str | None = Field(
        None, description="ray: the cluster to join (default: RAY_ADDRESS, else a local runtime on loopback)"
    )

    @model_validator(mode="after")
    def _isolation_settings_need_isolation(self) -> Executor:
        if self.kind == "local" and (self.cell_timeout_s is not None or self.memory_gb is not None):
            raise ValueError(
                "cell_timeout_s and memory_gb need executor kind process or ray: a cell running in this process "
                "cannot be stopped without stopping the run"
            )
        return self


class Scoring(Spec):
    """How a run's outputs are scored (run-wide: scoring never changes what a cell measures)."""

    normalised_text_errors: bool = Field(
        False,
        description="also report wer_normalised and cer_normalised: wer and cer after lower-casing, deleting "
        "punctuation and collapsing whitespace (wer and cer themselves are always jiwer's own call)",
    )


class RunSpec(CellSpec):
    """A whole run: a name, the base cell, the sweep that expands it, and how cells are ordered."""

    name: str = "vlmperf"
    sweep: Sweep = Sweep()
    interleave: bool = Field(
        True,
        description="cells that share a loaded model take their timed runs in random interleaved order, so drift "
        "in the machine's speed hits them all alike; false: one cell after the other",
    )
    reference: dict[str, Any] | None = Field(
        None,
        description="the reference setting (e.g. {target.dtype: fp32, scenario.batch_size: 1}): each cell is compared "
        "with the cell equal to it but for these keys, and reports agreement_vs_reference, the share of samples "
        "whose output equals that cell's",
    )
    executor: Executor = Executor()
    scoring: Scoring = Scoring()


CELL_SECTIONS: tuple[str, ...] = tuple(CellSpec.model_fields)
