"""From an endpoint target to where and how requests go: URL, headers with the key, limits.

The key is read from its environment variable when the group of cells starts sending and lives
only in the request headers in memory (and the endpoint's `Redactor`, which cuts it out of
whatever the server echoes): it is never part of a config, a record, a manifest or a log.
`check_target` runs before a run is created, so a missing key is an error before anything is
sent.
"""

from __future__ import annotations

import ipaddress
import os
from urllib.parse import urlsplit

from vlmperf.backends.endpoint.client import Endpoint
from vlmperf.backends.endpoint.presets import PRESETS
from vlmperf.backends.endpoint.redact import Redactor
from vlmperf.backends.endpoint.target import EndpointTarget
from vlmperf.errors import ConfigError


def served_here(url: str) -> bool:
    """Whether the URL's host is this machine's loopback address (`localhost`, 127.0.0.0/8, ::1): its
    server then shares the machine, and its CPU time is part of what a run measures."""
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def key_variable(target: EndpointTarget) -> str | None:
    """The environment variable holding this target's key (None: the endpoint needs none)."""
    return target.api_key_env or PRESETS[target.preset].key_env


def check_target(target: EndpointTarget) -> None:
    """Fail before any request when the key's variable is unset or empty."""
    variable = key_variable(target)
    if variable is not None and not os.environ.get(variable):
        raise ConfigError(
            f"target {target.model} ({target.preset}) reads its key from ${variable}, which is not set: "
            f"export {variable}=... (or set target.api_key_env to the variable that holds it)"
        )


def target_label(target: EndpointTarget) -> str:
    """How tables name the target: its label, else model and provider."""
    if target.label:
        return target.label
    return f"{target.model}:{target.provider}" if target.provider else target.model


def resolve_endpoint(target: EndpointTarget) -> Endpoint:
    """The endpoint to send to, with the key read from the environment now."""
    preset = PRESETS[target.preset]
    base_url = target.base_url or preset.base_url
    if base_url is None:  # the spec's validation makes this unreachable; kept as a clear failure
        raise ConfigError(f"target {target.model}: set target.base_url for preset {target.preset}")
    check_target(target)
    headers = {
        "Content-Type": "application/json",
        "Accept": "text/event-stream" if target.stream else "application/json",
    }
    variable = key_variable(target)
    key = os.environ[variable] if variable is not None else None
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    return Endpoint(
        url=f"{base_url}/chat/completions",
        headers=headers,
        stream=target.stream,
        connect_timeout_s=target.connect_timeout_s,
        first_byte_timeout_s=target.first_byte_timeout_s,
        idle_timeout_s=target.idle_timeout_s,
        total_timeout_s=target.total_timeout_s,
        retries=target.retries,
        max_retry_wait_s=target.max_retry_wait_s,
        served_by_headers=preset.served_by_headers,
        redactor=Redactor([key]),
    )
