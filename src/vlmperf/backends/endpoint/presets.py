"""Endpoint presets: where a kind of server lives and how to talk to it, one small declaration each.

A preset gives a default base URL (None for self-hosted servers, whose URL the config must give),
how the model id is written in requests, the environment variable holding the key, the response
headers that name the provider which served a request, and body fields the endpoint is known to
reject, so they are never sent to it.

Every preset reads `PROVIDER_HEADERS`: the HF router sends `x-inference-provider`, and so do
gateways and proxies put in front of any of the others (a vLLM or TGI server behind a router);
the first one present in a response is its `served_by`.
"""

from __future__ import annotations

from dataclasses import dataclass

PROVIDER_HEADERS = ("x-inference-provider",)
"""Response headers naming the provider that answered, in order of preference."""


@dataclass(frozen=True)
class EndpointPreset:
    name: str
    base_url: str | None
    key_env: str | None
    model_format: str = "{model}"
    served_by_headers: tuple[str, ...] = PROVIDER_HEADERS
    rejects: tuple[str, ...] = ()
    stream_usage: bool = True
    """Ask for token usage in the last stream chunk (`stream_options: {include_usage: true}`)."""

    def model_id(self, model: str, provider: str | None) -> str:
        """The model id as this endpoint expects it (hf-router: `org/name:provider` pins a provider)."""
        if provider is None or "{provider}" not in self.model_format:
            return model
        return self.model_format.format(model=model, provider=provider)


PRESETS: dict[str, EndpointPreset] = {
    preset.name: preset
    for preset in (
        EndpointPreset(
            "hf-router",
            "https://router.huggingface.co/v1",
            "HF_TOKEN",
            model_format="{model}:{provider}",
        ),
        EndpointPreset("github-models", "https://models.github.ai/inference", "GITHUB_TOKEN"),
        EndpointPreset("openai", "https://api.openai.com/v1", "OPENAI_API_KEY"),
        EndpointPreset("vllm", None, None),
        EndpointPreset("tgi", None, None),
        EndpointPreset("sglang", None, None),
        EndpointPreset("ollama", None, None),
        EndpointPreset("transformers-serve", None, None),
        EndpointPreset("openai-compatible", None, None),
    )
}
