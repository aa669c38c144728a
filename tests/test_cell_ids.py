"""Cell ids: a stable hash of the whole resolved config, the same in every process."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from vlmperf.config.loader import load_run_spec
from vlmperf.config.spec import CellSpec
from vlmperf.errors import ConfigError
from vlmperf.runner.plan import cell_id, expand


def write(tmp_path: Path, text: str, name: str = "run.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def plan(path: Path | None, overrides: list[str] | None = None):
    return expand(load_run_spec(path, overrides), str(path))


CELL_ID_SCRIPT = """
import json, sys
from pathlib import Path
from vlmperf.config.loader import load_run_spec
from vlmperf.runner.plan import expand
cells = expand(load_run_spec(Path(sys.argv[1]), sys.argv[2:]))
print(json.dumps([c.id for c in cells]))
"""

STABLE_CONFIG = """\
name: stable
target:
  model: llava-1.5-7b
  no_weights: true
  text_layers: 2
  dtype: bf16
workload:
  source: procedural
  limit: 4
sweep:
  grid:
    scenario.batch_size: [1, 2, 4]
    generation.max_new_tokens: [8, 16]
"""


def test_cell_ids_are_stable_across_processes(tmp_path):
    path = write(tmp_path, STABLE_CONFIG)
    overrides = ["generation.mode=fixed"]
    here = [c.id for c in plan(path, overrides)]
    there = subprocess.run(
        [sys.executable, "-c", CELL_ID_SCRIPT, str(path), *overrides],
        capture_output=True,
        text=True,
        check=True,
        stdin=subprocess.DEVNULL,
        env={"PYTHONHASHSEED": "12345", "PATH": "/usr/bin:/bin"},
    )
    assert json.loads(there.stdout) == here
    assert len(set(here)) == 6 and all(len(i) == 12 for i in here)


def test_cell_id_does_not_depend_on_key_order_or_spelled_out_defaults(tmp_path):
    a = write(tmp_path, "target:\n  dtype: bf16\n  device: cpu\nscenario:\n  batch_size: 2\n", "a.yaml")
    b = write(
        tmp_path, "scenario:\n  batch_size: 2\n  kind: offline\ntarget:\n  device: cpu\n  dtype: bf16\n", "b.yaml"
    )
    assert [c.id for c in plan(a)] == [c.id for c in plan(b)]


def _leaf_changes() -> list[tuple[str, object]]:
    """One changed value for every field of a cell."""
    return [
        ("target.model", "llava-1.5-7b"),
        ("target.revision", "main"),
        ("target.no_weights", True),
        ("target.dtype", "bf16"),
        ("target.device", "cuda"),
        ("target.attn_implementation", "eager"),
        ("target.trust_remote_code", True),
        ("target.compile", "default"),
        ("target.quantization", "torchao-int8"),
        ("target.speculative", "prompt-lookup"),
        ("target.peak_flops_per_s", 1.0e12),
        ("target.peak_memory_bandwidth_bytes_per_s", 5.0e10),
        ("target.threads", 2),
        ("workload.task", "vqa"),
        ("workload.source", "procedural"),
        ("workload.limit", 3),
        ("workload.seed", 1),
        ("workload.prompt", "Say something."),
        ("workload.max_input_len", 50),
        ("workload.image_size", 224),
        ("workload.ocr_tokens", True),
        ("workload.system_prompt", "llava-vicuna-v1"),
        ("scenario.batch_size", 2),
        ("generation.max_new_tokens", 5),
        ("generation.mode", "fixed"),
        ("generation.do_sample", True),
        ("generation.temperature", 0.5),
        ("generation.top_p", 0.9),
        ("generation.seed", 7),
        ("measure.warmup_runs", 0),
        ("measure.min_runs", 4),
        ("measure.min_duration_s", 1.5),
        ("measure.max_runs", 99),
        ("measure.every_sample", False),
        ("measure.max_error_rate", 0.1),
        ("measure.energy", "none"),
        ("measure.min_energy_window_s", 2.0),
        ("measure.flops", False),
        ("measure.profile", True),
    ]


def test_every_cell_field_is_covered_by_the_id_test():
    covered = {key for key, _ in _leaf_changes()}
    from vlmperf.runner.plan import flatten

    every = {k for k in flatten(CellSpec().model_dump(mode="json")) if k not in ("target.kind", "scenario.kind")}
    every -= {"target.text_layers", "target.vision_layers"}  # need no_weights: checked below
    every -= {"target.assistant_model", "target.draft_tokens"}  # need speculative: checked below
    every -= {"workload.dataset", "workload.columns"}  # need source: dataset: checked below
    every -= {"scenario.rate", "scenario.concurrency", "scenario.arrival"}  # need an endpoint: checked below
    assert every <= covered, f"add these fields to _leaf_changes: {sorted(every - covered)}"


def test_endpoint_scenario_fields_are_part_of_the_id():
    base = {"target": {"kind": "endpoint", "preset": "vllm", "base_url": "http://127.0.0.1:1/v1", "model": "m"}}
    rate = {**base, "scenario": {"kind": "rate", "rate": 5}}
    ids = {
        cell_id(CellSpec.model_validate(tree))
        for tree in (
            base,
            rate,
            {**base, "scenario": {"kind": "rate", "rate": 6}},
            {**base, "scenario": {"kind": "rate", "rate": 5, "arrival": "poisson"}},
            {**base, "scenario": {"kind": "rate", "rate": 5, "concurrency": 2}},
            {**base, "target": {**base["target"], "model": "n"}},
        )
    }
    assert len(ids) == 6


def test_a_scenario_setting_of_another_kind_is_refused_after_the_default_kind_is_chosen():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="scenario.rate applies to kind rate only"):
        CellSpec.model_validate({"scenario": {"rate": 5}})


@pytest.mark.parametrize(("key", "value"), _leaf_changes(), ids=[k for k, _ in _leaf_changes()])
def test_cell_id_differs_when_any_field_differs(key, value):
    base = CellSpec()
    tree = base.model_dump(mode="json")
    section, field = key.split(".")
    tree[section][field] = value
    if section == "generation" and field in ("temperature", "top_p"):
        tree["generation"]["do_sample"] = True  # sampling settings only exist with sampling
        base = CellSpec.model_validate({"generation": {"do_sample": True}})
    assert cell_id(CellSpec.model_validate(tree)) != cell_id(base)


def test_cell_id_differs_with_layer_counts():
    tree = {"target": {"model": "llava-1.5-7b", "no_weights": True}}
    ids = {
        cell_id(CellSpec.model_validate({"target": {**tree["target"], **extra}}))
        for extra in ({}, {"text_layers": 2}, {"text_layers": 3}, {"vision_layers": 2})
    }
    assert len(ids) == 4


def test_cell_id_differs_with_the_draft_model_and_its_tokens():
    ids = {
        cell_id(CellSpec.model_validate({"target": target}))
        for target in (
            {"speculative": "assistant", "assistant_model": "a"},
            {"speculative": "assistant", "assistant_model": "b"},
            {"speculative": "assistant", "assistant_model": "a", "draft_tokens": 3},
            {"speculative": "prompt-lookup", "draft_tokens": 3},
        )
    }
    assert len(ids) == 4


def test_duplicate_grid_points_collapse_to_one_cell(tmp_path):
    path = write(tmp_path, "sweep:\n  grid:\n    scenario.batch_size: [1, 2, 1, 2]\n    target.dtype: [fp32, fp32]\n")
    cells = plan(path)
    assert [c.spec.scenario.batch_size for c in cells] == [1, 2]
    assert len({c.id for c in cells}) == 2


def test_explicit_cell_equal_to_a_default_collapses(tmp_path):
    # `scenario.batch_size: 1` is the default, so both explicit cells resolve to the same config
    path = write(
        tmp_path, "sweep:\n  cells:\n    - {}\n    - {scenario.batch_size: 1}\n    - {scenario.batch_size: 2}\n"
    )
    cells = plan(path)
    assert [c.spec.scenario.batch_size for c in cells] == [1, 2]


def test_cells_of_a_grid_times_explicit_cells(tmp_path):
    path = write(
        tmp_path,
        "sweep:\n  grid:\n    scenario.batch_size: [1, 2]\n"
        "  cells:\n    - {target.dtype: fp32}\n    - {target.dtype: bf16}\n",
    )
    cells = plan(path)
    assert {(c.spec.target.dtype, c.spec.scenario.batch_size) for c in cells} == {
        ("fp32", 1),
        ("fp32", 2),
        ("bf16", 1),
        ("bf16", 2),
    }
    assert all(c.swept["target.dtype"] == c.spec.target.dtype for c in cells)


def test_sampling_settings_without_sampling_are_refused():
    with pytest.raises(ConfigError, match="only apply with do_sample"):
        load_run_spec(None, ["generation.temperature=0.7"])
    assert (
        load_run_spec(None, ["generation.temperature=0.7", "generation.do_sample=true"]).generation.temperature == 0.7
    )


def test_cell_id_differs_with_the_dataset():
    base = {"workload": {"source": "dataset", "task": "caption"}}
    ids = {
        cell_id(CellSpec.model_validate({"workload": {**base["workload"], **extra}}))
        for extra in (
            {"dataset": {"kind": "parquet", "path": "a.parquet"}},
            {"dataset": {"kind": "parquet", "path": "b.parquet"}},
            {"dataset": {"kind": "hub", "path": "org/x", "split": "val"}},
            {"dataset": {"kind": "hub", "path": "org/x", "split": "val"}, "columns": {"captions": "refs"}},
        )
    }
    assert len(ids) == 4


def test_dataset_settings_need_a_dataset_source():
    with pytest.raises(ConfigError, match="source: dataset only"):
        load_run_spec(None, ["workload.dataset={kind: parquet, path: a.parquet}"])
    with pytest.raises(ConfigError, match="workload.limit"):
        load_run_spec(None, ["workload.source=dataset", "workload.dataset={kind: parquet, path: a.parquet, limit: 3}"])
