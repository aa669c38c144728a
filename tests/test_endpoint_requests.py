"""Request bodies and endpoint config checks: what is sent, and what is refused before sending."""

from __future__ import annotations

import base64
import io

import orjson
import pytest
from PIL import Image

from vlmperf.backends.endpoint.requests import prepare_requests, request_body
from vlmperf.backends.endpoint.target import EndpointTarget
from vlmperf.config.loader import load_run_spec
from vlmperf.config.spec import Generation
from vlmperf.errors import ConfigError, InputError
from vlmperf.workloads.sample import Sample

IMAGE = Image.new("RGB", (40, 30), (200, 10, 10))


GENERATION = Generation(max_new_tokens=32)  # as a cell resolves it


def target(**fields) -> EndpointTarget:
    return EndpointTarget(**{"preset": "vllm", "base_url": "http://127.0.0.1:1/v1", "model": "m", **fields})


def test_a_body_carries_only_what_was_asked():
    body = request_body(target(), Generation(max_new_tokens=7), "Describe.", [])
    assert body == {
        "model": "m",
        "messages": [{"role": "user", "content": "Describe."}],
        "max_tokens": 7,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    sampled = request_body(
        target(n=3, stream=False, extra_body={"top_k": 5}),
        Generation(max_new_tokens=32, do_sample=True, temperature=0.7),
        "x",
        [],
    )
    assert (sampled["temperature"], sampled["n"], sampled["top_k"], sampled["stream"]) == (0.7, 3, 5, False)
    assert "stream_options" not in sampled


def test_hf_router_pins_the_provider_in_the_model_id():
    body = request_body(EndpointTarget(preset="hf-router", model="org/name", provider="novita"), GENERATION, "x", [])
    assert body["model"] == "org/name:novita"


def test_images_go_inline_as_data_urls_before_the_text():
    (prepared,) = prepare_requests([Sample("s", (IMAGE,))], {"s": "What?"}, target(image_format="png"), GENERATION)
    content = orjson.loads(prepared.body)["messages"][0]["content"]
    assert content[-1] == {"type": "text", "text": "What?"}
    url = content[0]["image_url"]["url"]
    assert url.startswith("data:image/png;base64,")
    decoded = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
    assert decoded.size == (40, 30) and decoded.getpixel((0, 0)) == (200, 10, 10)
    assert (prepared.image_pixels, prepared.images) == (1200, 1) and prepared.image_bytes > 0


def test_images_go_by_url_when_the_data_has_them():
    sample = Sample("s", (IMAGE,), meta={"image_urls": "https://example.org/a.jpg"})
    (prepared,) = prepare_requests([sample], {"s": "x"}, target(image_transport="url"), GENERATION)
    content = orjson.loads(prepared.body)["messages"][0]["content"]
    assert content[0]["image_url"]["url"] == "https://example.org/a.jpg" and prepared.image_bytes == 0
    with pytest.raises(InputError, match="map a dataset column of image URLs"):
        prepare_requests([Sample("t", (IMAGE,))], {"t": "x"}, target(image_transport="url"), GENERATION)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("target.preset=nope", "target.preset: unknown endpoint preset; known presets: hf-router"),
        ("target.base_url=ftp://host", "target.base_url: base_url must be an http:// or https:// URL"),
        ("target.base_url=null", "preset vllm is self-hosted: set target.base_url"),
        ("scenario.kind=offline", "scenario kind offline does not apply to endpoint targets"),
        ("workload.max_input_len=50", "workload.max_input_len applies to local models"),
    ],
)
def test_endpoint_config_mistakes_are_refused_before_anything_is_sent(tmp_path, override, message):
    config = tmp_path / "e.yaml"
    config.write_text("target: {kind: endpoint, preset: vllm, base_url: 'http://127.0.0.1:1/v1', model: m}\n")
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        load_run_spec(config, [override])
