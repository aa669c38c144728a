"""Chat-completion request bodies, built and serialised before any clock starts.

Images are encoded once per sample (base64 data URLs, or the sample's own URLs: a dataset column
mapped to `Sample.meta["image_urls"]`, a string or a list), the body is the
OpenAI chat format with the prompt after the images (after a system message holding the prompt's
system sentence, when `workload.system_prompt` gives one), and it is serialised to bytes with orjson up
front, so a request's timing covers only the network and the server. Fields are sent only when
asked: `max_tokens` always, `temperature`/`top_p` only with sampling, `n` only above 1, the
preset's usage option only when streaming, `extra_body` as given; a field the preset says the
endpoint rejects is never sent.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from typing import Any

import orjson
from PIL import Image

from vlmperf.backends.endpoint.presets import PRESETS
from vlmperf.backends.endpoint.target import EndpointTarget
from vlmperf.config.spec import Generation
from vlmperf.errors import InputError
from vlmperf.workloads.prompt import Prompt
from vlmperf.workloads.sample import Sample

_MIME = {"jpeg": "image/jpeg", "png": "image/png"}
JPEG_QUALITY = 95


@dataclass(frozen=True)
class EncodedImage:
    url: str
    bytes: int
    """Bytes of the encoded image (0 for an image sent by URL, whose size the server fetches)."""
    pixels: int


@dataclass(frozen=True)
class PreparedRequest:
    """One request ready to send: its serialised body and what it carries."""

    sample_id: str
    body: bytes
    image_bytes: int
    image_pixels: int
    images: int


def encode_image(image: Image.Image, image_format: str) -> EncodedImage:
    """The image as a base64 data URL in `image_format` (jpeg at quality 95, or png)."""
    buffer = io.BytesIO()
    if image_format == "jpeg":
        image.convert("RGB").save(buffer, format="JPEG", quality=JPEG_QUALITY)
    else:
        image.save(buffer, format="PNG")
    data = buffer.getvalue()
    url = f"data:{_MIME[image_format]};base64,{base64.b64encode(data).decode('ascii')}"
    return EncodedImage(url, len(data), image.width * image.height)


def _image_parts(sample: Sample, target: EndpointTarget) -> list[EncodedImage]:
    if target.image_transport == "data_url":
        return [encode_image(image, target.image_format) for image in sample.images]
    urls = sample.meta.get("image_urls") or []
    urls = [urls] if isinstance(urls, str) else list(urls)
    if len(urls) != len(sample.images):
        raise InputError(
            f"sample {sample.id!r} has {len(urls)} image URLs for {len(sample.images)} images "
            "(target.image_transport: url); map a dataset column of image URLs with "
            "workload.columns.meta: {image_urls: <column>}, or use image_transport: data_url"
        )
    return [
        EncodedImage(str(url), 0, image.width * image.height) for url, image in zip(urls, sample.images, strict=True)
    ]


def request_body(
    target: EndpointTarget, generation: Generation, prompt: Prompt | str, images: list[EncodedImage]
) -> dict[str, Any]:
    """The chat-completion body for one sample (see the module docstring for which fields are sent)."""
    preset = PRESETS[target.preset]
    text = str(prompt)
    if images:
        content: Any = [{"type": "image_url", "image_url": {"url": image.url}} for image in images]
        content.append({"type": "text", "text": text})
    else:
        content = text
    messages: list[dict[str, Any]] = [{"role": "user", "content": content}]
    system = prompt.system if isinstance(prompt, Prompt) else None
    if system:
        messages.insert(0, {"role": "system", "content": system})
    body: dict[str, Any] = {
        "model": preset.model_id(target.model, target.provider),
        "messages": messages,
        "max_tokens": generation.token_limit(),
        "stream": target.stream,
    }
    if target.stream and preset.stream_usage:
        body["stream_options"] = {"include_usage": True}
    if generation.do_sample:
        body["temperature"] = generation.temperature
        body["top_p"] = generation.top_p
        body["seed"] = generation.seed
    if target.n > 1:
        body["n"] = target.n
    body.update(target.extra_body)
    for field in preset.rejects:
        body.pop(field, None)
    return body


def prepare_requests(
    samples: list[Sample], prompts: dict[str, Prompt] | dict[str, str], target: EndpointTarget, generation: Generation
) -> list[PreparedRequest]:
    """One serialised request per sample, in sample order."""
    prepared = []
    for sample in samples:
        images = _image_parts(sample, target)
        body = orjson.dumps(request_body(target, generation, prompts[sample.id], images))
        prepared.append(
            PreparedRequest(sample.id, body, sum(i.bytes for i in images), sum(i.pixels for i in images), len(images))
        )
    return prepared
