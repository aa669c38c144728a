"""workload.system_prompt: LLaVA's vicuna_v1 sentence (or any text) reaches the model as a system
message, locally through the model's own chat template and at an endpoint as the first message."""

from __future__ import annotations

import pytest

from vlmperf.backends.endpoint.requests import request_body
from vlmperf.backends.endpoint.target import EndpointTarget
from vlmperf.backends.local.inputs import chat_text, prepare_batch
from vlmperf.config.spec import Generation, Workload
from vlmperf.errors import InputError
from vlmperf.workloads.sources import load_samples
from vlmperf.workloads.system_prompts import SYSTEM_PROMPTS
from vlmperf.workloads.tasks import prompt_hash, workload_prompts

VICUNA_V1 = (
    "A chat between a curious user and an artificial intelligence assistant. "
    "The assistant gives helpful, detailed, and polite answers to the user's questions."
)
# llava-hf/llava-1.5-7b-hf's chat_template.json, as published: a system message's text is written
# with no role prefix, followed by a space.
LLAVA_HF_TEMPLATE = (
    "{% for message in messages %}{% if message['role'] != 'system' %}{{ message['role'].upper() + ': '}}{% endif %}"
    "{# Render all images first #}{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}"
    "{{ '<image>\n' }}{% endfor %}{# Render all text next #}{% if message['role'] != 'assistant' %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}{{ content['text'] + ' '}}"
    "{% endfor %}{% else %}{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}"
    "{% generation %}{{ content['text'] + ' '}}{% endgeneration %}{% endfor %}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}"
)
LLAVA_V1_PROMPT = VICUNA_V1 + " USER: <image>\nDescribe the image. ASSISTANT:"  # LLaVA's conv_vicuna_v1.get_prompt()


@pytest.fixture(scope="module")
def sample():
    return load_samples(Workload(limit=1))[0]


def test_the_named_sentence_is_llava_vicuna_v1():
    assert SYSTEM_PROMPTS == {"llava-vicuna-v1": VICUNA_V1}
    samples = load_samples(Workload(limit=1))
    _, prompts = workload_prompts("caption", None, samples, ocr=False, system_prompt="llava-vicuna-v1")
    assert [p.system for p in prompts.values()] == [VICUNA_V1]
    _, own = workload_prompts("caption", None, samples, ocr=False, system_prompt="Be brief.")
    assert [p.system for p in own.values()] == ["Be brief."], "any other text is used as written"


def test_the_tiny_llava_renders_llavas_vicuna_v1_prompt(tiny_llava, sample):
    assert chat_text(tiny_llava, sample, "Describe the image.", VICUNA_V1) == LLAVA_V1_PROMPT
    assert chat_text(tiny_llava, sample, "Describe the image.") == "USER: <image>\nDescribe the image. ASSISTANT:"


def test_llava_hfs_own_template_renders_the_same_prompt(tiny_llava, sample, monkeypatch):
    monkeypatch.setattr(tiny_llava.processor, "chat_template", LLAVA_HF_TEMPLATE)
    assert chat_text(tiny_llava, sample, "Describe the image.", VICUNA_V1) == LLAVA_V1_PROMPT


def test_a_template_that_drops_system_messages_is_an_error(tiny_llava, sample, monkeypatch):
    user_only = (
        "{% for m in messages %}{% if m['role'] == 'user' %}USER: <image>\n{{ m['content'][-1]['text'] }}{% endif %}"
        "{% endfor %}"
    )
    monkeypatch.setattr(tiny_llava.processor, "chat_template", user_only)
    with pytest.raises(InputError, match="drops system messages"):
        chat_text(tiny_llava, sample, "Describe the image.", VICUNA_V1)


def test_the_system_sentence_reaches_the_batch_and_is_not_counted_against_the_budget(tiny_llava, sample):
    _, plain = workload_prompts("caption", None, [sample], ocr=False)
    _, with_system = workload_prompts("caption", None, [sample], ocr=False, system_prompt="llava-vicuna-v1")
    without = prepare_batch(tiny_llava, [sample], list(plain.values()), max_input_len=8, device="cpu")
    batch = prepare_batch(tiny_llava, [sample], list(with_system.values()), max_input_len=8, device="cpu")
    assert batch.input_tokens[0] > without.input_tokens[0] and batch.truncated_tokens == without.truncated_tokens == [0]


def test_the_endpoint_sends_it_as_the_first_message(sample):
    target = EndpointTarget(preset="vllm", base_url="http://127.0.0.1:1/v1", model="m")
    _, prompts = workload_prompts("caption", None, [sample], ocr=False, system_prompt="llava-vicuna-v1")
    body = request_body(target, Generation(max_new_tokens=8), prompts[sample.id], [])
    assert body["messages"] == [
        {"role": "system", "content": VICUNA_V1},
        {"role": "user", "content": "Describe the image in one sentence."},
    ]
    _, plain = workload_prompts("caption", None, [sample], ocr=False)
    plain_body = request_body(target, Generation(max_new_tokens=8), plain[sample.id], [])
    assert [m["role"] for m in plain_body["messages"]] == ["user"]


def test_the_prompt_hash_covers_the_system_sentence():
    assert prompt_hash("{question}") == prompt_hash("{question}", None)
    assert prompt_hash("{question}", VICUNA_V1) != prompt_hash("{question}")
