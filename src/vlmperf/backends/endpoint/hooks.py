"""The endpoint kind's hooks (`TargetKind.hooks`): what the runner calls to check and measure endpoint
cells. Imported only when a run has endpoint cells (it imports the HTTP client)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from vlmperf.backends.endpoint.group import run_endpoint_group as run_group
from vlmperf.backends.endpoint.resolve import check_target
from vlmperf.backends.endpoint.target import EndpointTarget

if TYPE_CHECKING:
    from vlmperf.config.spec import CellSpec

__all__ = ["check", "run_group"]


def check(spec: CellSpec) -> None:
    """Fails before any request when the key's environment variable is unset or empty (`resolve.check_target`)."""
    assert isinstance(spec.target, EndpointTarget)  # the registry hands this kind its own cells only
    check_target(spec.target)
