"""What every spec shares: unknown keys rejected, values frozen, and bounds that say why.

Every numeric setting has an upper bound a real study never needs (`bounded`): a huge value would
hang, crash or exhaust the machine rather than measure anything, so it is refused before any work,
with the bound and its reason in the message and in the field's description.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict

from vlmperf.config.errors_format import number_text

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
"""The integers the results store can hold (orjson: signed 64 bits)."""

DAY_S = 86_400.0
WEEK_S = 7 * DAY_S


def bounded(default: Any, why: str, description: str | None = None, **bounds: Any) -> Any:
    """A field with bounds (`le=`, `ge=`, ...) no real study reaches, and why, which the error message and the
    description both give: a huge value would hang, crash or exhaust the machine rather than measure anything."""
    shown = {k: v for k, v in bounds.items() if v != 0}  # "at least 0" says nothing a type does not
    limits = ", ".join(
        f"{'at most' if k == 'le' else 'at least'} {number_text(v)}" for k, v in shown.items() if k in ("le", "ge")
    )
    text = f"{description}; " if description else ""
    extra: JsonDict = {"bound_why": why, "bound_keys": list(shown)}
    return Field(default, description=f"{text}{limits}: {why}", json_schema_extra=extra, **bounds)


SEED_WHY = "a seed is stored as a signed 64-bit integer"
TIMEOUT_WHY = "a day; a longer wait is a hang, not a measurement"


class Spec(BaseModel):
    """Base of all specs: unknown keys are rejected and values are immutable once validated."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)  # infinity and NaN are never meant
