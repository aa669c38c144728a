"""Config validation, `--set` overrides and cell ids, through the loader and the planner directly.

Every bad config must raise ConfigError before any work, with a message that names the key, the
file (or the `--set`) and what is allowed.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from vlmperf.config.loader import apply_overrides, load_run_spec, parse_override
from vlmperf.config.spec import CellSpec, RunSpec
from vlmperf.errors import ConfigError, VlmperfError
from vlmperf.runner.plan import cell_id, expand


def write(tmp_path: Path, text: str, name: str = "run.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def config_error(path: Path | None, overrides: list[str] | None = None) -> str:
    """Load and expand the config; it must fail with a ConfigError, whose message is returned."""
    with pytest.raises(ConfigError) as caught:
        expand(load_run_spec(path, overrides), str(path))
    return str(caught.value)


def plan(path: Path | None, overrides: list[str] | None = None):
    return expand(load_run_spec(path, overrides), str(path))


# ---------------------------------------------------------------------------------------------
# unknown keys


def test_unknown_top_level_key(tmp_path):
    path = write(tmp_path, "targt:\n  dtype: fp16\n")
    message = config_error(path)
    assert str(path) in message and "targt" in message and "unknown key" in message
    assert "target" in message and "sweep" in message, "lists the keys allowed at the top level"


def test_unknown_nested_key(tmp_path):
    path = write(tmp_path, "target:\n  dtyp: fp16\n")
    message = config_error(path)
    assert f"{path}: target.dtyp: unknown key" in message
    assert "dtype" in message and "attn_implementation" in message, "lists the keys a target allows"


def test_unknown_key_inside_a_sweep_grid_key(tmp_path):
    path = write(
        tmp_path,
        """\
        sweep:
          grid:
            scenario.bach_size: [1, 2]
        """,
    )
    message = config_error(path)
    assert str(path) in message and "scenario.bach_size" in message and "unknown key" in message
    assert "batch_size" in message, "lists the keys a scenario allows"


def test_unknown_section_in_a_sweep_grid_key(tmp_path):
    path = write(tmp_path, "sweep:\n  grid:\n    scenari.batch_size: [1]\n")
    message = config_error(path)
    assert str(path) in message and "scenari.batch_size" in message
    assert "target" in message and "scenario" in message, "lists the sweepable sections"


def test_unknown_key_inside_an_explicit_sweep_cell(tmp_path):
    path = write(
        tmp_path,
        """\
        sweep:
          cells:
            - {target.dtype: fp32}
            - {generation.max_new_token: 8}
        """,
    )
    message = config_error(path)
    assert str(path) in message and "generation.max_new_token" in message and "unknown key" in message
    assert "sweep cell 2" in message, "names which cell is wrong"
    assert "max_new_tokens" in message, "lists the keys generation allows"


# ---------------------------------------------------------------------------------------------
# wrong types and bad values


@pytest.mark.parametrize(
    ("yaml_text", "key", "allowed"),
    [
        ("target:\n  dtype: fp8\n", "target.dtype", ["fp32", "fp16", "bf16"]),
        ("target:\n  device: gpu\n", "target.device", ["cpu", "cuda", "cuda:N"]),
        ("scenario:\n  batch_size: 0\n", "scenario.batch_size", ["greater than 0"]),
        ("measure:\n  warmup_runs: -1\n", "measure.warmup_runs", ["greater than or equal to 0"]),
        ("scenario:\n  batch_size: four\n", "scenario.batch_size", ["integer"]),
        ("target:\n  no_weights: maybe\n", "target.no_weights", ["boolean"]),
        ("generation:\n  mode: turbo\n", "generation.mode", ["natural", "fixed"]),
        ("target: 5\n", "target", ["dictionary"]),
    ],
    ids=[
        "dtype-fp8", "device-gpu", "batch-size-0", "negative-warmup", "batch-size-text", "bool", "mode", "section"
    ],
)
def test_bad_value_names_key_file_and_what_is_allowed(tmp_path, yaml_text, key, allowed):
    path = write(tmp_path, yaml_text)
    message = config_error(path)
    assert message.startswith(f"{path}: {key}: "), message
    for word in allowed:
        assert word in message, f"{word!r} missing from {message!r}"
    assert len(message.splitlines()) == 1, "one problem, one line"


def test_got_value_is_shown_once(tmp_path):
    message = config_error(write(tmp_path, "target:\n  device: gpu\n"))
    assert message.count("'gpu'") == 1, message


def test_text_layers_need_no_weights(tmp_path):
    path = write(tmp_path, "target:\n  model: llava-1.5-7b\n  text_layers: 2\n")
    message = config_error(path)
    assert str(path) in message and "text_layers" in message and "no_weights: true" in message
    fixed = write(tmp_path, "target:\n  model: llava-1.5-7b\n  text_layers: 2\n  no_weights: true\n", "ok.yaml")
    spec = load_run_spec(fixed)
    assert spec.target.text_layers == 2


def test_max_runs_below_min_runs(tmp_path):
    path = write(tmp_path, "measure:\n  min_runs: 5\n  max_runs: 2\n")
    message = config_error(path)
    assert str(path) in message and "measure" in message and "max_runs (2)" in message and "min_runs (5)" in message


def test_every_problem_is_reported_at_once(tmp_path):
    path = write(tmp_path, "target:\n  dtype: fp8\n  device: gpu\nscenario:\n  batch_size: 0\n")
    lines = config_error(path).splitlines()
    assert len(lines) == 3
    assert all(line.startswith(f"{path}: ") for line in lines)


def test_bad_value_in_an_explicit_sweep_cell(tmp_path):
    path = write(tmp_path, "sweep:\n  cells:\n    - {scenario.batch_size: 0}\n")
    message = config_error(path)
    assert str(path) in message and "sweep cell 1" in message and "scenario.batch_size" in message
    assert "greater than 0" in message


def test_bad_value_in_a_sweep_grid(tmp_path):
    path = write(tmp_path, "sweep:\n  grid:\n    target.dtype: [fp32, fp8]\n")
    message = config_error(path)
    assert str(path) in message and "target.dtype" in message and "'fp8'" in message and "bf16" in message


def test_empty_sweep_axis(tmp_path):
    path = write(tmp_path, "sweep:\n  grid:\n    scenario.batch_size: []\n")
    message = config_error(path)
    assert str(path) in message and "scenario.batch_size" in message and "no values" in message


def test_sweep_axis_that_is_not_a_list(tmp_path):
    path = write(tmp_path, "sweep:\n  grid:\n    scenario.batch_size: 4\n")
    message = config_error(path)
    assert str(path) in message and "scenario.batch_size" in message and "list" in message


# ---------------------------------------------------------------------------------------------
# files that are not configs


def test_yaml_that_does_not_parse_names_the_line(tmp_path):
    path = write(tmp_path, "name: x\ntarget:\n  model: [unclosed\nworkload: {}\n")
    message = config_error(path)
    assert str(path) in message and "not valid YAML" in message
    assert "line 4" in message, message
    assert "fix the syntax" in message


def test_yaml_with_a_tab_names_the_line(tmp_path):
    path = write(tmp_path, "target:\n\tdtype: fp16\n")
    message = config_error(path)
    assert str(path) in message and "line 2" in message


def test_top_level_list(tmp_path):
    path = write(tmp_path, "- target\n- workload\n")
    message = config_error(path)
    assert str(path) in message and "mapping" in message and "target:" in message


def test_top_level_scalar(tmp_path):
    message = config_error(write(tmp_path, "just words\n"))
    assert "mapping" in message


def test_missing_config_file(tmp_path):
    path = tmp_path / "nope.yaml"
    message = config_error(path)
    assert str(path) in message and "not found" in message


def test_config_that_is_not_text(tmp_path):
    path = tmp_path / "binary.yaml"
    path.write_bytes(b"\xff\xfe\x00garbage")
    message = config_error(path)
    assert str(path) in message


def test_empty_config_file_is_the_defaults(tmp_path):
    spec = load_run_spec(write(tmp_path, ""))
    assert spec == RunSpec()


def test_empty_section_is_allowed_to_receive_a_set(tmp_path):
    path = write(tmp_path, "target:\nworkload:\n  task: caption\n")
    spec = load_run_spec(path, ["target.dtype=bf16"])
    assert spec.target.dtype == "bf16"


def test_config_errors_are_vlmperf_errors():
    assert issubclass(ConfigError, VlmperfError)


# ---------------------------------------------------------------------------------------------
# --set


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("scenario.batch_size=4", 4),
        ("target.no_weights=true", True),
        ("measure.min_duration_s=0.5", 0.5),
        ("sweep.grid.scenario.batch_size=[1, 2]", [1, 2]),
        ("target.model=./models/my model", "./models/my model"),
        ("name=a=b", "a=b"),
        ("target.revision=", None),
    ],
)
def test_set_values_are_read_as_yaml(text, value):
    _, parsed = parse_override(text)
    assert parsed == value and type(parsed) is type(value)


def test_set_overrides_the_file(tmp_path):
    path = write(tmp_path, "target:\n  dtype: fp16\nscenario:\n  batch_size: 2\n")
    spec = load_run_spec(path, ["target.dtype=bf16", "generation.max_new_tokens=3"])
    assert spec.target.dtype == "bf16" and spec.scenario.batch_size == 2 and spec.generation.max_new_tokens == 3


def test_set_on_a_swept_key_removes_that_axis(tmp_path):
    path = write(tmp_path, "sweep:\n  grid:\n    scenario.batch_size: [1, 2, 4]\n    target.dtype: [fp32, bf16]\n")
    spec = load_run_spec(path, ["scenario.batch_size=8"])
    assert "scenario.batch_size" not in spec.sweep.grid and spec.sweep.grid["target.dtype"] == ["fp32", "bf16"]
    cells = expand(spec)
    assert len(cells) == 2 and {c.spec.scenario.batch_size for c in cells} == {8}


def test_set_on_a_key_of_explicit_cells_overrides_it_there_too(tmp_path):
    path = write(
        tmp_path, "sweep:\n  cells:\n    - {scenario.batch_size: 1}\n    - {scenario.batch_size: 2, target.dtype: bf16}\n",
    )
    cells = plan(path, ["scenario.batch_size=8"])
    assert [(c.spec.scenario.batch_size, c.spec.target.dtype) for c in cells] == [(8, "fp32"), (8, "bf16")]


def test_set_sweep_grid_sets_an_axis(tmp_path):
    path = write(tmp_path, "sweep:\n  grid:\n    scenario.batch_size: [1, 2, 4]\n")
    spec = load_run_spec(path, ["sweep.grid.scenario.batch_size=[1]", "sweep.grid.generation.max_new_tokens=[2, 3]"])
    assert spec.sweep.grid == {"scenario.batch_size": [1], "generation.max_new_tokens": [2, 3]}
    assert len(expand(spec)) == 2


def test_set_sweep_grid_on_a_config_without_a_sweep(tmp_path):
    spec = load_run_spec(write(tmp_path, "name: plain\n"), ["sweep.grid.target.dtype=[fp32, bf16]"])
    assert spec.sweep.grid == {"target.dtype": ["fp32", "bf16"]}


def test_set_applies_on_the_default_config():
    spec = load_run_spec(None, ["scenario.batch_size=2"])
    assert spec.scenario.batch_size == 2 and "scenario.batch_size" not in spec.sweep.grid


def test_set_does_not_change_the_raw_config():
    raw = {"sweep": {"grid": {"scenario.batch_size": [1, 2]}}}
    apply_overrides(raw, ["scenario.batch_size=4"])
    assert raw == {"sweep": {"grid": {"scenario.batch_size": [1, 2]}}}


@pytest.mark.parametrize("text", ["scenario.batch_size", "=4", "  =4"])
def test_malformed_set(text):
    with pytest.raises(ConfigError) as caught:
        load_run_spec(None, [text])
    message = str(caught.value)
    assert "--set" in message and "dotted.key=value" in message


def test_set_value_that_is_not_yaml():
    with pytest.raises(ConfigError, match=r"--set 'sweep.grid.x=\[1': the value is not valid YAML"):
        load_run_spec(None, ["sweep.grid.x=[1"])


def test_set_through_a_value():
    with pytest.raises(ConfigError) as caught:
        load_run_spec(None, ["target.model.x=1"])
    message = str(caught.value)
    assert message.startswith("--set target.model.x=1: ") and "'model' is a value, not a section" in message


def test_bad_value_from_set_names_the_set(tmp_path):
    path = write(tmp_path, "name: mine\n")
    message = config_error(path, ["scenario.batch_size=0"])
    assert message.startswith("--set scenario.batch_size=0: scenario.batch_size: "), message
    assert "greater than 0" in message


def test_unknown_key_from_set_names_the_set_and_the_allowed_keys():
    message = config_error(None, ["target.dtyp=fp16"])
    assert message.startswith("--set target.dtyp=fp16: target.dtyp: unknown key"), message
    assert "dtype" in message


def test_model_level_problem_after_a_set_names_file_and_set(tmp_path):
    path = write(tmp_path, "name: mine\n")
    message = config_error(path, ["target.text_layers=2"])
    assert str(path) in message and "--set target.text_layers=2" in message and "no_weights" in message


def test_problem_in_the_file_still_names_the_file_when_sets_are_given(tmp_path):
    path = write(tmp_path, "target:\n  device: gpu\n")
    message = config_error(path, ["target.dtype=fp16", "scenario.batch_size=2"])
    assert message.startswith(f"{path}: target.device: ")


def test_empty_sweep_axis_from_set():
    message = config_error(None, ["sweep.grid.scenario.batch_size=[]"])
    assert "scenario.batch_size" in message and "no values" in message
    assert "--set sweep.grid.scenario.batch_size=[]" in message


def test_set_sweep_grid_when_sweep_is_not_a_mapping(tmp_path):
    path = write(tmp_path, "sweep: 5\n")
    with pytest.raises(ConfigError, match="'sweep' is a value, not a section"):
        load_run_spec(path, ["sweep.grid.scenario.batch_size=[1]"])
    message = config_error(path, ["scenario.batch_size=2"])  # the --set itself applies; the sweep is reported
    assert message.startswith(f"{path}: sweep: ")


def test_set_when_sweep_cells_is_not_a_list(tmp_path):
    path = write(tmp_path, "sweep:\n  cells: 7\n")
    message = config_error(path, ["scenario.batch_size=2"])
    assert message.startswith(f"{path}: sweep.cells: ") and "list" in message


# ---------------------------------------------------------------------------------------------
# cell ids


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
        capture_output=True, text=True, check=True, stdin=subprocess.DEVNULL,
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
        ("workload.task", "vqa"),
        ("workload.source", "procedural"),
        ("workload.limit", 3),
        ("workload.seed", 1),
        ("workload.prompt", "Say something."),
        ("workload.max_input_len", 50),
        ("workload.image_size", 224),
        ("workload.ocr_tokens", True),
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
    ]


def test_every_cell_field_is_covered_by_the_id_test():
    covered = {key for key, _ in _leaf_changes()}
    from vlmperf.runner.plan import flatten

    every = {k for k in flatten(CellSpec().model_dump(mode="json")) if k not in ("target.kind", "scenario.kind")}
    every -= {"target.text_layers", "target.vision_layers"}  # need no_weights: checked below
    every -= {"workload.dataset", "workload.columns"}  # need source: dataset: checked below
    assert every <= covered, f"add these fields to _leaf_changes: {sorted(every - covered)}"


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
        ("fp32", 1), ("fp32", 2), ("bf16", 1), ("bf16", 2)
    }
    assert all(c.swept["target.dtype"] == c.spec.target.dtype for c in cells)


def test_sampling_settings_without_sampling_are_refused():
    with pytest.raises(ConfigError, match="only apply with do_sample"):
        load_run_spec(None, ["generation.temperature=0.7"])
    assert load_run_spec(None, ["generation.temperature=0.7", "generation.do_sample=true"]).generation.temperature == 0.7


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
