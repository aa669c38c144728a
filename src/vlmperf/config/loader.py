"""Read a run config from YAML, apply `--set` overrides, and validate it before any work.

Every YAML the config code reads (a config file, a `--set` value) goes through the bounded reader
(`config.bounded_yaml`), and every integer in the raw config must fit in signed 64 bits.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from vlmperf.config.bounded_yaml import check_integers, load_yaml
from vlmperf.config.errors_format import describe_validation_error, shorten
from vlmperf.config.spec import RunSpec
from vlmperf.errors import ConfigError

DEFAULT_CONFIG_NAME = "default.yaml"


def default_config_text() -> str:
    """The built-in config `vlmperf run` uses when given none."""
    return resources.files("vlmperf.config").joinpath(DEFAULT_CONFIG_NAME).read_text()


def read_config(path: Path | None) -> tuple[dict[str, Any], str]:
    """The raw mapping of a YAML config and a label naming where it came from."""
    if path is None:
        return _parse(default_config_text(), "the built-in default config"), "the built-in default config"
    if not path.is_file():
        raise ConfigError(f"config file {path} not found: give the path of a YAML file (see examples/)")
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {path} cannot be read ({exc}): give a readable UTF-8 YAML file") from exc
    return _parse(text, str(path)), str(path)


def _parse(text: str, where: str) -> dict[str, Any]:
    raw = load_yaml(text, where)
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: the top level must be a mapping of sections (target:, workload:, ...)")
    return raw


def _section(tree: dict[str, Any], parts: list[str], key: str) -> dict[str, Any]:
    """The mapping at `parts` in `tree`, creating missing (or empty) sections on the way."""
    node = tree
    for part in parts:
        child = node.get(part)
        if child is None:  # a missing section, or an empty one (`target:` with nothing under it)
            child = node[part] = {}
        if not isinstance(child, dict):
            raise ConfigError(f"{key}: {part!r} is a value, not a section; set {part!r} itself, or a key of a section")
        node = child
    return node


def set_dotted(tree: dict[str, Any], key: str, value: Any) -> None:
    """Set `a.b.c` in a nested mapping, creating the mappings on the way."""
    parts = key.split(".")
    _section(tree, parts[:-1], key)[parts[-1]] = value


def parse_override(text: str) -> tuple[str, Any]:
    """`key=value` with the value read as YAML (so 4 is a number, [1, 2] a list, true a bool)."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(
            f"--set {shorten(text, 80)!r}: write it as dotted.key=value, for example --set scenario.batch_size=4"
        )
    return key.strip(), load_yaml(value, f"--set {shorten(text, 80)!r}", "the value is ")


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply `--set` overrides. Setting a key the sweep varies replaces that sweep axis.

    `--set sweep.grid.<dotted key>=[...]` sets a whole sweep axis.
    """
    try:
        tree = load_yaml(yaml.safe_dump(raw), "config")  # a deep copy of plain data, bounded like any YAML
    except (yaml.YAMLError, RecursionError, ValueError) as exc:  # data handed in by the API, not read from YAML
        raise ConfigError(f"config: not plain data that YAML can hold ({shorten(str(exc), 120)})") from None
    for text in overrides:
        key, value = parse_override(text)
        try:
            if key.startswith("sweep.grid."):  # the axis name is itself a dotted key of sweep.grid
                _section(tree, ["sweep", "grid"], key)[key.removeprefix("sweep.grid.")] = value
                continue
            set_dotted(tree, key, value)
        except ConfigError as exc:
            raise ConfigError(f"--set {shorten(text, 80)}: {exc}") from None
        sweep = tree.get("sweep")
        if not isinstance(sweep, dict):
            continue  # validation reports a sweep that is not a mapping
        if isinstance(sweep.get("grid"), dict):
            sweep["grid"].pop(key, None)
        if isinstance(sweep.get("cells"), list):
            for cell in sweep["cells"]:
                if isinstance(cell, dict):
                    cell.pop(key, None)
    return tree


def override_origins(overrides: list[str]) -> dict[str, str]:
    """Dotted key -> `--set key=value`, so validation errors name the `--set` that wrote a value."""
    origins: dict[str, str] = {}
    for text in overrides:
        key, _ = parse_override(text)
        origins[key] = f"--set {shorten(text, 80)}"
    return origins


def load_run_spec(path: Path | None, overrides: list[str] | None = None) -> RunSpec:
    """Read, override and validate a run config; any problem raises ConfigError naming key and file."""
    raw, where = read_config(path)
    tree = apply_overrides(raw, overrides or [])
    origins = override_origins(overrides or [])
    check_integers(tree, where, origins)
    try:
        return RunSpec.model_validate(tree)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc, RunSpec, where, origins)) from exc
    except RecursionError:  # defensive: load_yaml bounds nesting, but an API caller's data is not YAML
        raise ConfigError(f"{where}: the config is nested too deeply to validate") from None
