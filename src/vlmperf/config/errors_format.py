"""Turn pydantic's validation errors into one line per problem that names key, file and what is allowed."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError


def _model_at(root: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The spec class that owns the field at `loc` (to list the keys it allows)."""
    model: type[BaseModel] = root
    for part in loc:
        field = model.model_fields.get(str(part))
        annotation = getattr(field, "annotation", None)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            model = annotation
        else:
            return None
    return model


def describe_validation_error(error: ValidationError, root: type[BaseModel], where: str) -> str:
    """One line per problem: `where: dotted.key: what is wrong (got X); allowed: ...`."""
    lines = []
    for problem in error.errors():
        loc = tuple(problem["loc"])
        key = ".".join(str(part) for part in loc) or "(top level)"
        if problem["type"] == "extra_forbidden":
            owner = _model_at(root, loc[:-1])
            allowed = ", ".join(owner.model_fields) if owner else "see the docs"
            lines.append(f"{where}: {key}: unknown key; allowed keys here: {allowed}")
            continue
        message = problem["msg"].removeprefix("Value error, ")
        got = problem.get("input")
        shown = "" if isinstance(got, dict) or problem["type"] == "missing" else f" (got {got!r})"
        lines.append(f"{where}: {key}: {message}{shown}")
    return "\n".join(lines)
