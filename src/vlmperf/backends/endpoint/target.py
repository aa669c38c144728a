"""The spec of a model behind an OpenAI-compatible `/chat/completions` endpoint, and its price."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, NonNegativeInt, PositiveFloat, PositiveInt, field_validator, model_validator

from vlmperf.backends.endpoint.presets import PRESETS as ENDPOINT_PRESETS
from vlmperf.backends.target_kind import TargetSpec
from vlmperf.config.spec_base import DAY_S, TIMEOUT_WHY, Spec, bounded


class Price(Spec):
    """What a provider charges, in US dollars per million tokens (for `cost_usd`)."""

    input_per_mtok: float = bounded(..., "no model costs a million dollars per million tokens", ge=0, le=1e6)
    output_per_mtok: float = bounded(..., "no model costs a million dollars per million tokens", ge=0, le=1e6)


class EndpointTarget(TargetSpec):
    """A model behind an OpenAI-compatible `/chat/completions` endpoint.

    The preset fills the base URL, how the model id is written and which environment variable
    holds the key; anything set here wins over the preset. The key itself is read from that
    variable when requests are sent and is never stored.
    """

    kind: Literal["endpoint"] = "endpoint"
    preset: str = Field(
        "openai-compatible",
        description="hf-router, github-models, openai, vllm, tgi, sglang, ollama, "
        "transformers-serve, openai-compatible",
    )
    model: str = Field(..., min_length=1, description="model id as the endpoint names it (hf-router: org/name)")
    provider: str | None = Field(
        None, description="hf-router: pin the provider that serves it (model org/name:provider)"
    )
    base_url: str | None = Field(None, description="base URL ending before /chat/completions (default: the preset's)")
    api_key_env: str | None = Field(None, description="environment variable holding the key (default: the preset's)")
    label: str | None = Field(None, description="a name for this target in tables (default: model and provider)")
    stream: bool = Field(True, description="stream the answer (server-sent events); false: one JSON body")
    image_transport: Literal["data_url", "url"] = Field(
        "data_url", description="data_url: images inline as base64; url: the sample's image URL (needs one)"
    )
    image_format: Literal["jpeg", "png"] = Field("jpeg", description="encoding of inline images")
    n: PositiveInt = bounded(1, "OpenAI's own limit", "choices per request (sent only when above 1)", le=128)
    extra_body: dict[str, Any] = Field(default_factory=dict, description="fields added to every request body as given")
    connect_timeout_s: PositiveFloat = bounded(10.0, TIMEOUT_WHY, "longest wait for a connection", le=DAY_S)
    first_byte_timeout_s: PositiveFloat = bounded(
        60.0, TIMEOUT_WHY, "from the request sent to the response headers", le=DAY_S
    )
    idle_timeout_s: PositiveFloat = bounded(60.0, TIMEOUT_WHY, "longest wait between two chunks of a stream", le=DAY_S)
    total_timeout_s: PositiveFloat = bounded(300.0, TIMEOUT_WHY, "whole request, retries excluded", le=DAY_S)
    retries: NonNegativeInt = bounded(
        0,
        "more retries only hide a failing endpoint",
        "attempts after a 429, 5xx or connect error (off by default)",
        le=100,
    )
    max_retry_wait_s: PositiveFloat = bounded(
        60.0, TIMEOUT_WHY, "longest Retry-After honoured; longer ones fail the request", le=DAY_S
    )
    price: Price | None = Field(None, description="USD per million input and output tokens, for cost_usd")

    @field_validator("preset")
    @classmethod
    def _preset_is_known(cls, value: str) -> str:
        if value not in ENDPOINT_PRESETS:
            raise ValueError(f"unknown endpoint preset; known presets: {', '.join(ENDPOINT_PRESETS)}")
        return value

    @field_validator("base_url")
    @classmethod
    def _base_url_is_http(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^/\s]+(/\S*)?$", value):
            raise ValueError("base_url must be an http:// or https:// URL such as http://127.0.0.1:8000/v1")
        return value.rstrip("/") if value else value

    @model_validator(mode="after")
    def _preset_needs(self) -> EndpointTarget:
        preset = ENDPOINT_PRESETS[self.preset]
        if self.base_url is None and preset.base_url is None:
            raise ValueError(
                f"preset {self.preset} is self-hosted: set target.base_url (e.g. http://127.0.0.1:8000/v1)"
            )
        if self.provider is not None and "{provider}" not in preset.model_format:
            raise ValueError(f"provider applies to presets that route to providers (hf-router), not to {self.preset}")
        return self
