"""Turn pydantic's validation errors into one line per problem that names key, file and what is allowed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ValidationError


def _model_at(root: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The spec class that owns the field at `loc` (to list the keys it allows); `loc` as pydantic
    gives it, union tags included (`("target", "endpoint")` is the endpoint target's class)."""
    from vlmperf.config.spec import TARGET_CLASSES

    model: type[BaseModel] = root
    parts = list(loc)
    while parts:
        part = str(parts.pop(0))
        field = model.model_fields.get(part)
        annotation = getattr(field, "annotation", None)
        if part == "target" and parts and parts[0] in TARGET_CLASSES:
            model = TARGET_CLASSES[parts.pop(0)]
        elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
            model = annotation
        else:
            return None
    return model


UNION_TAGS = {"target": {"local", "endpoint"}}  # the tags of spec.Target
"""Tags pydantic puts in an error's location inside a tagged union (`target.endpoint.model`): not keys."""


def _without_union_tags(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    kept: list[Any] = []
    for part in loc:
        if not (kept and part in UNION_TAGS.get(str(kept[-1]), ())):
            kept.append(part)
    return tuple(kept)


def _origin(key: str, where: str, origins: Mapping[str, str] | None) -> str:
    """Where the value at `key` came from: the `--set` that wrote it, else `where`.

    A problem found on a whole section (`target`) that a `--set` wrote into names both.
    """
    for written, label in reversed(list((origins or {}).items())):  # the last --set of a key wins
        if key == written or key.startswith(f"{written}."):
            return label
    for written, label in reversed(list((origins or {}).items())):
        if written.startswith(f"{key}."):
            return f"{where}, with {label}"
    return where


def describe_validation_error(
    error: ValidationError, root: type[BaseModel], where: str, origins: Mapping[str, str] | None = None
) -> str:
    """One line per problem: `where: dotted.key: what is wrong (got X); allowed: ...`.

    `origins` maps dotted keys set on the command line to a label (`--set key=value`), so a
    problem in a value the user typed names the `--set`, not the config file it was applied to.
    """
    lines = []
    for problem in error.errors():
        raw_loc = tuple(problem["loc"])
        loc = _without_union_tags(raw_loc)
        key = ".".join(str(part) for part in loc) or "(top level)"
        where_from = _origin(key, where, origins)
        if problem["type"] == "extra_forbidden":
            owner = _model_at(root, raw_loc[:-1])
            allowed = ", ".join(owner.model_fields) if owner else "see the docs"
            lines.append(f"{where_from}: {key}: unknown key; allowed keys here: {allowed}")
            continue
        message = problem["msg"].removeprefix("Value error, ")
        got = problem.get("input")
        hidden = isinstance(got, dict) or problem["type"] == "missing" or f"got {got!r}" in message
        shown = "" if hidden else f" (got {got!r})"
        if problem["type"] == "string_type" and isinstance(got, (dict, list)):
            shown += "; YAML reads {...} and [...] as a mapping or a list: quote the text, as in prompt: \"{text}\""
        lines.append(f"{where_from}: {key}: {message}{shown}")
    return "\n".join(lines)
