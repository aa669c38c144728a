"""Config validation, `--set` overrides and cell ids, through the loader and the planner directly.

Every bad config must raise ConfigError before any work, with a message that names the key, the
file (or the `--set`) and what is allowed.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from vlmperf.config.loader import apply_overrides, load_run_spec, parse_override
from vlmperf.config.spec import CellSpec, Generation, RunSpec
from vlmperf.errors import ConfigError, VlmperfError
from vlmperf.runner.plan import expand


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
    ids=["dtype-fp8", "device-gpu", "batch-size-0", "negative-warmup", "batch-size-text", "bool", "mode", "section"],
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
        tmp_path,
        "sweep:\n  cells:\n    - {scenario.batch_size: 1}\n    - {scenario.batch_size: 2, target.dtype: bf16}\n",
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


def test_an_unquoted_braced_prompt_says_to_quote_it():
    message = config_error(None, ["workload.prompt={text}"])
    assert message.startswith("--set workload.prompt={text}: workload.prompt: Input should be a valid string"), message
    assert 'quote the text, as in prompt: "{text}"' in message


def test_the_task_list_is_the_task_registry():
    from vlmperf.workloads.tasks import TASKS

    message = config_error(None, ["workload.task=nope"])
    assert all(f"'{name}'" in message for name in TASKS), message
    assert load_run_spec(None, ["workload.task=text"]).workload.task == "text"


# --- generation defaults from the task -----------------------------------------------------------


@pytest.mark.parametrize(
    ("task", "tokens"),
    [
        ("coco-caption", 64),
        ("scienceqa-img", 16),
        ("textvqa", 1024),
        ("caption", 32),
        ("vqa", 32),
        ("mcq", 32),
        ("text", 32),
    ],
)
def test_max_new_tokens_defaults_to_the_tasks_lmms_eval_setting(task, tokens):
    assert CellSpec.model_validate({"workload": {"task": task}}).generation.max_new_tokens == tokens
    explicit = CellSpec.model_validate({"workload": {"task": task}, "generation": {"max_new_tokens": 5}})
    assert explicit.generation.max_new_tokens == 5, "an explicit value always wins"


def test_an_unresolved_token_limit_is_never_sent_on():
    # outside a cell, max_new_tokens is None; passing it on would let a server or transformers choose
    with pytest.raises(ValueError, match="unresolved"):
        Generation().token_limit()
    assert CellSpec().generation.token_limit() == 32


def test_each_cell_of_a_task_sweep_resolves_its_own_tasks_default_and_stores_the_number(tmp_path):
    path = write(tmp_path, "sweep:\n  grid:\n    workload.task: [coco-caption, scienceqa-img, textvqa, caption]\n")
    run = load_run_spec(path)
    assert run.generation.max_new_tokens is None, "the run's base leaves it to each cell"
    assert [c.config["generation.max_new_tokens"] for c in expand(run)] == [64, 16, 1024, 32]
    pinned = plan(path, ["generation.max_new_tokens=8"])
    assert [c.config["generation.max_new_tokens"] for c in pinned] == [8, 8, 8, 8]


def test_the_default_run_is_unchanged():
    """`vlmperf run` without a config sets its own 16 tokens; a bare cell of a generic task has 32."""
    from vlmperf.config.spec import CellSpec

    assert {c.spec.generation.max_new_tokens for c in plan(None)} == {16}
    assert CellSpec().generation.max_new_tokens == 32
