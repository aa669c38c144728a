"""Configs cannot hang, crash or pass for what they are not (issue 16).

Duplicate keys, alias bombs, deep nesting, huge sweeps, values past any real study's need and
integers the results store cannot hold are each refused with one ConfigError line that names the
key, the bound and why, and never holds a whole offending value.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_config import config_error as any_config_error
from tests.test_config import write
from vlmperf.config import bounded_yaml
from vlmperf.config.bounded_yaml import MAX_DEPTH, MAX_VALUES, load_yaml
from vlmperf.config.errors_format import SHOWN_CHARS, shown
from vlmperf.config.loader import apply_overrides, load_run_spec, parse_override
from vlmperf.config.spec import RunSpec
from vlmperf.errors import ConfigError
from vlmperf.runner.plan import expand


def config_error(path: Path | None, overrides: list[str] | None = None) -> str:
    """test_config's config_error, whose message must also be one line."""
    message = any_config_error(path, overrides)
    assert "\n" not in message, message
    return message


BILLION_LAUGHS = "\n".join(
    ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    + [f"{b}: &{b} [{', '.join([f'*{a}'] * 9)}]" for a, b in zip("abcdefgh", "bcdefghi", strict=True)]
)


# ---------------------------------------------------------------------------------------------
# duplicate keys


def test_a_duplicate_top_level_section_is_an_error_naming_both_lines(tmp_path):
    path = write(
        tmp_path,
        """\
        target:
          device: cpu
        workload:
          limit: 3
        target:
          device: cuda
        """,
    )
    message = config_error(path)
    assert message.startswith(f"{path}: "), message
    assert "key 'target' appears twice: lines 1 and 5" in message


def test_a_duplicate_nested_key_names_its_dotted_path(tmp_path):
    path = write(tmp_path, "target:\n  device: cpu\n  dtype: fp16\n  device: cuda\n")
    assert "key 'target.device' appears twice: lines 2 and 4" in config_error(path)


def test_a_duplicate_key_in_a_set_value_is_an_error():
    with pytest.raises(ConfigError, match=r"--set 'target=\{device: cpu, device: cuda\}'.*'device' appears twice"):
        parse_override("target={device: cpu, device: cuda}")


def test_a_merge_key_is_not_a_duplicate():
    tree = load_yaml("base: &base {device: cpu, dtype: fp16}\ntarget:\n  <<: *base\n  device: cuda\n", "here")
    assert tree["target"] == {"device": "cuda", "dtype": "fp16"}


# ---------------------------------------------------------------------------------------------
# alias bombs, deep nesting, recursion


def test_a_billion_laughs_document_is_refused(tmp_path):
    path = write(tmp_path, BILLION_LAUGHS)
    message = config_error(path)
    assert f"more than {MAX_VALUES:,} values" in message and "alias" in message


def test_a_billion_laughs_set_value_is_refused():
    bomb = "{" + BILLION_LAUGHS.replace("\n", ", ") + "}"
    with pytest.raises(ConfigError, match="alias"):
        parse_override(f"target.extra_body={bomb}")


def test_aliases_within_the_bound_still_load():
    assert load_yaml("a: &a [1, 2]\nb: [*a, *a]\n", "here") == {"a": [1, 2], "b": [[1, 2], [1, 2]]}


@pytest.mark.parametrize(
    "text",
    [
        "a: " + "[" * 10_000 + "]" * 10_000,
        "a: " + "{x: " * 10_000 + "1" + "}" * 10_000,
        "x:\n" + "".join("  " * (i + 1) + "k:\n" for i in range(3_000)),
    ],
    ids=["flow-lists", "flow-mappings", "block-mappings"],
)
def test_deep_nesting_is_refused_not_a_recursion_error(tmp_path, text):
    path = write(tmp_path, text)
    message = config_error(path)
    assert f"nested deeper than {MAX_DEPTH} levels" in message


def test_nesting_within_the_bound_still_loads():
    depth = MAX_DEPTH - 2
    assert load_yaml("a: " + "[" * depth + "]" * depth, "here") is not None


def test_a_self_referring_alias_is_refused():
    with pytest.raises(ConfigError, match="contains it"):
        load_yaml("a: &a [1, *a]\n", "here")


def test_a_recursion_error_becomes_a_config_error(monkeypatch):
    def explode(*args, **kwargs):
        raise RecursionError

    monkeypatch.setattr(bounded_yaml, "_check_nodes", explode)
    with pytest.raises(ConfigError, match="too large or too deeply nested"):
        load_yaml("a: 1\n", "here")


# ---------------------------------------------------------------------------------------------
# bounded values in messages


def test_a_long_offending_value_shows_only_a_bounded_prefix(tmp_path):
    path = write(tmp_path, "target:\n  device: " + "x" * 100_000 + "\n")
    message = config_error(path)
    assert "target.device" in message and "…" in message
    assert len(message) < len(str(path)) + 300, message


def test_a_long_value_of_the_wrong_type_shows_only_a_bounded_prefix(tmp_path):
    path = write(tmp_path, "scenario:\n  batch_size: [" + ", ".join(["123456789"] * 10_000) + "]\n")
    message = config_error(path)
    assert "scenario.batch_size" in message and len(message) < len(str(path)) + 300, message


def test_shown_bounds_any_value():
    assert len(shown("y" * 10_000)) == SHOWN_CHARS
    assert len(shown(list(range(100_000)))) <= SHOWN_CHARS
    assert shown(10**5000) == f"an integer of {(10**5000).bit_length()} bits"
    assert shown(3) == "3" and shown("cpu") == "'cpu'"


def test_a_long_set_text_is_shown_bounded():
    with pytest.raises(ConfigError) as caught:
        parse_override("x" * 10_000)
    assert len(str(caught.value)) < 300


# ---------------------------------------------------------------------------------------------
# the sweep's size


def _five_axes() -> dict:
    values = list(range(20))
    return {
        "sweep": {
            "grid": {
                "workload.seed": values,
                "generation.seed": values,
                "target.threads": values[1:] + [20],
                "workload.limit": values[1:] + [20],
                "scenario.batch_size": values[1:] + [20],
            }
        }
    }


def test_a_sweep_past_max_cells_is_refused_before_it_is_expanded(monkeypatch, tmp_path):
    def never(*args):
        raise AssertionError("the grid was expanded")

    monkeypatch.setattr("vlmperf.runner.plan.itertools.product", never)
    with pytest.raises(ConfigError) as caught:
        load_run_spec(None, [f"sweep.grid.{key}={values}" for key, values in _five_axes()["sweep"]["grid"].items()])
    message = str(caught.value)
    assert "3,200,000 cells" in message and "sweep.max_cells (10,000)" in message, message


def test_expand_refuses_a_sweep_past_max_cells_itself(monkeypatch):
    spec = RunSpec.model_construct(**RunSpec().__dict__)  # skips the spec's own check: expand must check too
    sweep = RunSpec().sweep.model_construct(
        grid={"workload.seed": list(range(200)), "generation.seed": list(range(200))}, cells=[], max_cells=10_000
    )
    object.__setattr__(spec, "sweep", sweep)
    monkeypatch.setattr("vlmperf.runner.plan.itertools.product", lambda *a: pytest.fail("the grid was expanded"))
    with pytest.raises(ConfigError, match="40,000 cells"):
        expand(spec)


def test_raising_max_cells_lets_a_bigger_sweep_expand():
    overrides = ["sweep.grid={workload.seed: [0, 1, 2, 3], generation.seed: [0, 1, 2]}"]
    with pytest.raises(ConfigError, match="12 cells"):
        load_run_spec(None, [*overrides, "sweep.max_cells=10"])
    assert len(expand(load_run_spec(None, [*overrides, "sweep.max_cells=12"]))) == 12


def test_explicit_cells_count_towards_max_cells():
    tree = {"sweep": {"grid": {"workload.seed": [0, 1, 2]}, "cells": [{}, {"generation.seed": 1}], "max_cells": 5}}
    with pytest.raises(ConfigError, match="6 cells"):
        load_run_spec(None, [f"sweep={tree['sweep']}"])


# ---------------------------------------------------------------------------------------------
# every setting's bound


LOCAL = {}
ENDPOINT = {
    "target": "{kind: endpoint, preset: vllm, base_url: 'http://127.0.0.1:1/v1', model: m}",
    "generation.mode": "natural",
}
PROCESS = {"executor.kind": "process"}

BOUNDS = [
    ("target.threads", 1_000_000, "1,024", LOCAL),
    ("target.text_layers", 100_000, "1,024", {"target.no_weights": True}),
    ("target.vision_layers", 100_000, "1,024", {"target.no_weights": True}),
    ("target.draft_tokens", 100_000, "1,024", {"target.speculative": "prompt-lookup"}),
    ("target.peak_flops_per_s", 1e30, "1e+18", LOCAL),
    ("target.peak_memory_bandwidth_bytes_per_s", 1e30, "1e+15", LOCAL),
    ("target.n", 1_000, "128", ENDPOINT),
    ("target.connect_timeout_s", 1e9, "86,400", ENDPOINT),
    ("target.total_timeout_s", 1e9, "86,400", ENDPOINT),
    ("target.retries", 1_000_000, "100", ENDPOINT),
    ("target.max_retry_wait_s", 1e9, "86,400", ENDPOINT),
    ("workload.limit", 10**9, "1,000,000", LOCAL),
    ("workload.image_size", 100_000, "8,192", LOCAL),
    ("workload.max_input_len", 10**9, "10,000,000", LOCAL),
    ("workload.seed", 2**64, "64", LOCAL),
    ("scenario.batch_size", 1_000_000, "4,096", LOCAL),
    ("scenario.concurrency", 1_000_000, "10,000", {**ENDPOINT, "scenario.kind": "concurrent"}),
    ("scenario.rate", 1e9, "100,000", {**ENDPOINT, "scenario.kind": "rate"}),
    ("generation.max_new_tokens", 10**7, "65,536", LOCAL),
    ("generation.temperature", 1e6, "100", {"generation.do_sample": True}),
    ("generation.seed", 2**64, "64", LOCAL),
    ("measure.warmup_runs", 10**8, "10,000", LOCAL),
    ("measure.min_runs", 10**10, "1,000,000,000", {"measure.max_runs": 1_000_000_000}),
    ("measure.max_runs", 10**10, "1,000,000,000", LOCAL),
    ("measure.min_duration_s", 1e9, "604,800", LOCAL),
    ("measure.min_energy_window_s", 1e9, "3,600", LOCAL),
    ("executor.cell_timeout_s", 1e9, "604,800", PROCESS),
    ("executor.max_retries", 10**6, "100", PROCESS),
    ("executor.memory_gb", 1e9, "65,536", PROCESS),
    ("executor.cpus", 1e9, "4,096", LOCAL),
    ("executor.gpus", 1e9, "1,024", LOCAL),
    ("sweep.max_cells", 10**9, "1,000,000", LOCAL),
]


@pytest.mark.parametrize(("key", "value", "bound", "context"), BOUNDS, ids=[key for key, *_ in BOUNDS])
def test_every_setting_has_an_upper_bound_naming_key_bound_and_why(key, value, bound, context):
    overrides = [f"{k}={v}" for k, v in context.items()] + [f"{key}={value}"]
    message = config_error(None, overrides)
    assert f"{key}: " in message, message
    assert bound in message, message
    assert "(" in message.split(f"{key}: ", 1)[1], f"says why: {message}"


@pytest.mark.parametrize(("key", "value", "bound", "context"), BOUNDS, ids=[key for key, *_ in BOUNDS])
def test_the_bound_itself_is_allowed(key, value, bound, context):
    if bound == "64":
        limit = 2**63 - 1
    else:
        limit = float(bound.replace(",", "")) if "e" in bound or "." in bound else int(bound.replace(",", ""))
    overrides = [f"{k}={v}" for k, v in context.items()] + [f"{key}={limit}"]
    if key == "measure.min_runs":
        overrides.append(f"measure.max_runs={limit}")
    load_run_spec(None, overrides)


def test_a_million_threads_says_why():
    message = config_error(None, ["target.threads=1000000"])
    assert message == (
        "--set target.threads=1000000: target.threads: at most 1,024 (a real study never needs more; a huge value "
        "exhausts the machine's thread limit) (got 1000000)"
    )


@pytest.mark.parametrize("value", [".inf", "-.inf", ".nan"])
def test_infinity_and_nan_are_refused(value):
    assert "measure.min_duration_s: " in config_error(None, [f"measure.min_duration_s={value}"])


def test_a_seed_beyond_64_bits_is_a_config_error_not_a_store_traceback(tmp_path):
    path = write(tmp_path, f"generation:\n  seed: {2**64}\n")
    message = config_error(path)
    assert "generation.seed" in message and "64 bits" in message


def test_a_negative_64_bit_seed_is_allowed():
    assert load_run_spec(None, [f"generation.seed={-(2**63)}"]).generation.seed == -(2**63)


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        (
            [*(f"{k}={v}" for k, v in ENDPOINT.items()), f"target.extra_body={{x: [1, {2**64}]}}"],
            "target.extra_body.x[1]",
        ),
        ([f"sweep.grid.workload.seed=[1, {2**70}]"], "sweep.grid.workload.seed[1]"),
        ([f"reference={{workload.seed: {-(2**63) - 1}}}"], "reference.workload.seed"),
    ],
)
def test_an_integer_beyond_64_bits_anywhere_is_refused_with_its_key(overrides, key):
    message = config_error(None, overrides)
    assert f"{key}: an integer must fit in signed 64 bits" in message, message


def test_an_integer_of_thousands_of_digits_is_refused(tmp_path):
    message = config_error(write(tmp_path, "workload:\n  seed: " + "9" * 5_000 + "\n"))
    assert "64 bits" in message and "set_int_max_str_digits" not in message and len(message) < 400


def test_apply_overrides_keeps_plain_data_as_it_was():
    raw = {"target": {"device": "cpu"}, "sweep": {"grid": {"workload.seed": [1, 2]}}}
    assert apply_overrides(raw, []) == raw


# ---------------------------------------------------------------------------------------------
# through the CLI


def test_the_cli_refuses_a_billion_laughs_config_with_one_line_and_exit_code_2(tmp_path, vlmperf_env):
    path = write(tmp_path, BILLION_LAUGHS)
    result = subprocess.run(
        [sys.executable, "-m", "vlmperf", "run", str(path)],
        check=False,
        env=vlmperf_env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )
    where = f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert result.returncode == 2, where
    assert "Traceback" not in result.stderr + result.stdout, where
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "alias" in lines[0], where
