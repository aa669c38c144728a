"""System sentences a workload can put before its prompt, by name; any other text is used as written.

`llava-vicuna-v1` is the system sentence of LLaVA's `conv_vicuna_v1` conversation
(haotian-liu/LLaVA `llava/conversation.py`), the one LLaVA-1.5 was trained and evaluated with and
that lmms-eval's `llava` model prepends (its default `conv_template="vicuna_v1"`). lmms-eval's
`llava_hf` model writes the same sentence in its `VICUNA_CHAT_TEMPLATE` (used only for a tokenizer
without a chat template). Both say "a curious user ... the user's questions"; the "curious human
... the human's questions" wording is LLaVA's older `conv_vicuna_v0` (and `conv_llava_v0`), which
LLaVA-1.5 does not use, so it has no name here (write it out as text to use it).

The sentence goes to the model as a system message: the endpoint sends it as the first message,
a local model's own chat template places it (llava-hf's template writes it before `USER:`, which
gives LLaVA's `<system> USER: <image>\\n<prompt> ASSISTANT:`). It is not counted against
`workload.max_input_len`, which budgets the user prompt only.
"""

from __future__ import annotations

SYSTEM_PROMPTS: dict[str, str] = {
    "llava-vicuna-v1": (
        "A chat between a curious user and an artificial intelligence assistant. "
        "The assistant gives helpful, detailed, and polite answers to the user's questions."
    ),
}


def system_text(value: str | None) -> str | None:
    """The sentence a `workload.system_prompt` value stands for: a named one's text, else the value as written."""
    if value is None:
        return None
    return SYSTEM_PROMPTS.get(value, value)
