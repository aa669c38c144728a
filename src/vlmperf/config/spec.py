"""Typed specs of everything a run can be told, validated before any work starts.

Every field here is sweepable by its dotted name (`target.dtype`, `scenario.batch_size`, ...).
Unknown keys are errors, not ignored: a typo in a config must never silently measure the
default instead of what the user meant.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, field_validator, model_validator

from vlmperf.backends.local.presets import DEFAULT_MODEL
from vlmperf.workloads.datasets.spec import ColumnMap, DatasetSource
from vlmperf.workloads.tasks import PROMPT_FIELDS, TASKS

TaskName = Literal[tuple(TASKS)]  # type: ignore[valid-type]  # the registry is the one list of tasks

DEVICE_PATTERN = re.compile(r"^(cpu|cuda(:\d+)?)$")


class Spec(BaseModel):
    """Base of all specs: unknown keys are rejected and values are immutable once validated."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class LocalTarget(Spec):
    """A model loaded in this process with transformers."""

    kind: Literal["local"] = "local"
    model: str = Field(
        DEFAULT_MODEL,
        description="hub id, local folder, or preset (builtin:tiny-llava, llava-1.5-7b, llava-hf/llava-1.5-7b-hf)",
    )
    revision: str | None = Field(None, description="hub revision (branch, tag or commit) to load")
    no_weights: bool = Field(False, description="build the architecture from its config with random weights")
    text_layers: PositiveInt | None = Field(None, description="override the language model's layer count (no_weights only)")
    vision_layers: PositiveInt | None = Field(None, description="override the vision tower's layer count (no_weights only)")
    dtype: Literal["fp32", "fp16", "bf16"] = "fp32"
    device: str = Field("cpu", description="cpu, cuda or cuda:N")
    attn_implementation: Literal["eager", "sdpa", "flash_attention_2"] = "sdpa"
    trust_remote_code: bool = False

    @field_validator("device")
    @classmethod
    def _device_is_known(cls, value: str) -> str:
        if not DEVICE_PATTERN.match(value):
            raise ValueError(f"device must be cpu, cuda or cuda:N (got {value!r})")
        return value

    @model_validator(mode="after")
    def _layers_need_no_weights(self) -> LocalTarget:
        if (self.text_layers or self.vision_layers) and not self.no_weights:
            raise ValueError(
                "text_layers / vision_layers build a scaled replica and need no_weights: true "
                "(loaded weights would not match the changed architecture)"
            )
        return self


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
    limit: PositiveInt | None = Field(None, description="use at most this many samples (procedural: how many to make)")
    seed: int = Field(0, description="seed of the procedural generator and of a dataset's subset")
    prompt: str | None = Field(
        None, description="prompt template; fields: " + " ".join("{%s}" % name for name in PROMPT_FIELDS)
    )
    ocr_tokens: bool = Field(False, description="textvqa: give the OCR tokens in the prompt, as lmms-eval's ocr option")
    max_input_len: PositiveInt | None = Field(
        None, description="token budget of the text prompt; longer prompts are cut (image tokens never are)"
    )
    image_size: PositiveInt | None = Field(None, description="resize images so the longer side is this many pixels")

    @model_validator(mode="after")
    def _dataset_settings_fit_the_source(self) -> Workload:
        if self.source != "dataset" and (self.dataset is not None or self.columns is not None):
            raise ValueError("dataset and columns apply to source: dataset only")
        if self.dataset is not None and (self.dataset.limit is not None or self.dataset.seed != 0):
            raise ValueError("set the subset with workload.limit and workload.seed, not dataset.limit / dataset.seed")
        return self


class Scenario(Spec):
    """How load is applied. `offline`: fixed-size batches back to back."""

    kind: Literal["offline"] = "offline"
    batch_size: PositiveInt = 1


class Generation(Spec):
    """Decoding settings. Greedy unless `do_sample` is set."""

    max_new_tokens: PositiveInt = 32
    mode: Literal["natural", "fixed"] = Field(
        "natural", description="natural: stop at EOS; fixed: exactly max_new_tokens (for speed work)"
    )
    do_sample: bool = False
    temperature: float = Field(1.0, gt=0, description="sampling temperature (do_sample only)")
    top_p: float = Field(1.0, gt=0, le=1, description="nucleus sampling mass (do_sample only)")
    seed: int = 0

    @model_validator(mode="after")
    def _sampling_settings_need_sampling(self) -> Generation:
        if not self.do_sample and (self.temperature != 1.0 or self.top_p != 1.0):
            raise ValueError(
                "temperature and top_p only apply with do_sample: true; greedy decoding ignores them, "
                "so set do_sample: true or leave them out"
            )
        return self


class Measure(Spec):
    """When to stop measuring a cell: after `min_runs` timed runs, `min_duration_s` seconds of them,
    and (with `every_sample`) once every sample of the workload has been through the model."""

    warmup_runs: int = Field(1, ge=0)
    min_runs: PositiveInt = 3
    min_duration_s: float = Field(0.0, ge=0)
    every_sample: bool = Field(
        True, description="keep going until every sample was answered once, so quality covers the whole subset"
    )
    max_runs: PositiveInt = Field(10_000, description="hard cap on timed runs, whatever the duration")

    @model_validator(mode="after")
    def _cap_not_below_minimum(self) -> Measure:
        if self.max_runs < self.min_runs:
            raise ValueError(f"max_runs ({self.max_runs}) must be at least min_runs ({self.min_runs})")
        return self


class CellSpec(Spec):
    """One fully resolved configuration: what a cell measures."""

    target: LocalTarget = LocalTarget()
    workload: Workload = Workload()
    scenario: Scenario = Scenario()
    generation: Generation = Generation()
    measure: Measure = Measure()


class Sweep(Spec):
    """A grid over dotted config keys, times an optional explicit list of cells (overrides)."""

    grid: dict[str, list[Any]] = Field(default_factory=dict)
    cells: list[dict[str, Any]] = Field(default_factory=list)

    @field_validator("grid")
    @classmethod
    def _axes_not_empty(cls, grid: dict[str, list[Any]]) -> dict[str, list[Any]]:
        for key, values in grid.items():
            if not values:
                raise ValueError(f"sweep axis {key!r} has no values")
        return grid


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


CELL_SECTIONS: tuple[str, ...] = tuple(CellSpec.model_fields)
