"""Turn pydantic's validation errors into one line per problem that names key, file and what is allowed."""

from __future__ import annotations

import reprlib
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

SHOWN_CHARS = 80
"""Most characters of an offending value an error message shows: a config value can be huge."""

_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = _REPR.maxlong = SHOWN_CHARS
_REPR.maxlist = _REPR.maxtuple = _REPR.maxdict = _REPR.maxset = 8
_REPR.maxlevel = 3


def shown(value: Any, limit: int = SHOWN_CHARS) -> str:
    """`value`'s repr, built bounded (a huge list or string is never rendered whole) and cut to `limit`
    characters with `…`; an integer too long to print is described by its size."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 4 * limit:
        return f"an integer of {value.bit_length()} bits"
    try:
        text = repr(value[: limit + 1]) if isinstance(value, str) else _REPR.repr(value)  # a prefix, never the middle
    except (ValueError, RecursionError):
        return f"a {type(value).__name__} too large to show"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def shorten(value: Any, limit: int = SHOWN_CHARS) -> str:
    """`value` as text (a string as it is, anything else as `shown` writes it), cut to `limit` characters."""
    if not isinstance(value, str):
        return shown(value, limit)
    return value if len(value) <= limit else value[: limit - 1] + "…"


def _model_at(root: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The spec class that owns the field at `loc` (to list the keys it allows); `loc` as pydantic
    gives it, kind tags included (`("target", "endpoint")` is the endpoint target's class)."""
    from vlmperf.backends.registry import KINDS

    model: type[BaseModel] = root
    parts = list(loc)
    while parts:
        part = str(parts.pop(0))
        field = model.model_fields.get(part)
        annotation = getattr(field, "annotation", None)
        if part == "target" and parts and parts[0] in KINDS:
            model = KINDS[parts.pop(0)].spec
        elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
            model = annotation
        else:
            return None
    return model


BOUND_TYPES = {
    "less_than_equal": ("le", "at most"),
    "less_than": ("lt", "below"),
    "greater_than_equal": ("ge", "at least"),
    "greater_than": ("gt", "above"),
}


def number_text(value: Any) -> str:
    """A bound as a person reads it: 1000000 -> 1,000,000; 604800.0 -> 604,800; 1e+18 stays 1e+18."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        value = int(value)
    return f"{value:,}" if isinstance(value, int) else f"{value:g}"


def _bound_message(root: type[BaseModel], loc: tuple[Any, ...], problem: Mapping[str, Any]) -> str | None:
    """`at most 1,024 (why)` for a value past a field's bound, the why from the field's `bound_why`."""
    name, word = BOUND_TYPES.get(problem["type"], (None, None))
    if name is None or not loc:
        return None
    owner = _model_at(root, loc[:-1])
    field = owner.model_fields.get(str(loc[-1])) if owner else None
    extra = getattr(field, "json_schema_extra", None)
    if not isinstance(extra, dict) or name not in extra.get("bound_keys", ()):
        return None  # a bound of the type (PositiveInt: above 0): pydantic's own words say it
    why = extra.get("bound_why")
    limit = (problem.get("ctx") or {}).get(name)
    if limit is None:
        return None
    return f"{word} {number_text(limit)}" + (f" ({why})" if why else "")


def _without_kind_tags(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """The location as keys: without the kind that `spec.Target` puts after `target`, as pydantic does in a
    tagged union (`target.endpoint.model` is the key `target.model`)."""
    from vlmperf.backends.registry import KINDS

    kept: list[Any] = []
    for part in loc:
        if not (kept and kept[-1] == "target" and part in KINDS):
            kept.append(part)
    return tuple(kept)


def origin_of(key: str, where: str, origins: Mapping[str, str] | None) -> str:
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
        loc = _without_kind_tags(raw_loc)
        key = ".".join(str(part) for part in loc) or "(top level)"
        where_from = origin_of(key, where, origins)
        if problem["type"] == "extra_forbidden":
            owner = _model_at(root, raw_loc[:-1])
            allowed = ", ".join(owner.model_fields) if owner else "see the docs"
            lines.append(f"{where_from}: {key}: unknown key; allowed keys here: {allowed}")
            continue
        message = shorten(problem["msg"].removeprefix("Value error, "), 400)
        bound = _bound_message(root, raw_loc, problem)
        if bound:
            message = bound
        got = problem.get("input")
        hidden = isinstance(got, dict) or problem["type"] == "missing" or "(got " in message
        shown_got = "" if hidden else f" (got {shown(got)})"
        if problem["type"] == "string_type" and isinstance(got, (dict, list)):
            shown_got += '; YAML reads {...} and [...] as a mapping or a list: quote the text, as in prompt: "{text}"'
        lines.append(f"{where_from}: {key}: {message}{shown_got}")
    return "\n".join(lines)
