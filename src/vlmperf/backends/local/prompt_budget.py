"""Fit a prompt into `workload.max_input_len` text tokens by shortening only what its task lets be cut.

A structured prompt (`vlmperf.workloads.prompt.Prompt`) is cut field by field in the task's
`cut_order` (ScienceQA: its context first, then its question), each field from its end and, once
its text is gone, with its label ("Context: "). The template's own words (the instruction) and the
fields the task does not list (the choices) are never cut: when the budget cannot be met without
them, that is an InputError naming the sample and the smallest budget that fits, because a
multiple-choice figure measured on prompts without their choices or instruction would not be what
it claims. A plain string (a caller that built its own prompt) keeps the old rule: its end is cut.

A cell leaves out the samples whose prompt cannot fit (`within_budget`) and records each with the
budget it needs, rather than failing whole: a sweep down to 50 tokens still measures every sample
that fits, and says which did not. Only a cell where no sample fits fails.

Tokens are counted with the model's tokenizer on the user prompt before the chat template is
applied, without special tokens; `cut_tokens` is the full count minus the count of the text sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from vlmperf.errors import InputError
from vlmperf.workloads.prompt import Prompt
from vlmperf.workloads.sample import Sample


class PromptOverBudget(InputError):
    """A prompt that cannot fit `max_input_len` without cutting what is never cut.

    `needs` is the smallest budget that fits it."""

    def __init__(self, message: str, needs: int) -> None:
        super().__init__(message)
        self.needs = needs


@dataclass(frozen=True)
class FittedPrompt:
    """The text sent, how many tokens were cut from it, and which fields were cut (first to last)."""

    text: str
    cut_tokens: int
    cut_fields: tuple[str, ...]


def fit_prompt(tokenizer: Any, prompt: Prompt | str, max_tokens: int | None, sample_id: str = "") -> FittedPrompt:
    """The prompt within `max_tokens` text tokens (see the module docstring for what is cut)."""
    text = str(prompt)
    if max_tokens is None:
        return FittedPrompt(text, 0, ())
    full = _count(tokenizer, text)
    if full <= max_tokens:
        return FittedPrompt(text, 0, ())
    if not isinstance(prompt, Prompt):
        ids = _ids(tokenizer, text)
        return FittedPrompt(tokenizer.decode(ids[:max_tokens], skip_special_tokens=False), full - max_tokens, ("end",))
    current, cut = prompt, []
    for field in prompt.fields():
        current = _shorten(tokenizer, current, field, max_tokens)
        cut.append(field)
        left = _count(tokenizer, current.text)
        if left <= max_tokens:
            return FittedPrompt(current.text, full - left, tuple(cut))
    floor = _count(tokenizer, current.text)
    raise PromptOverBudget(
        f"sample {sample_id!r}: its prompt needs {floor} tokens even with {', '.join(cut) or 'nothing'} cut away "
        f"(choices and instructions are never cut), over workload.max_input_len {max_tokens}; "
        f"raise max_input_len to {floor} or more",
        floor,
    )


def within_budget(
    tokenizer: Any, samples: list[Sample], prompts: Mapping[str, Prompt | str], max_tokens: int | None
) -> tuple[list[Sample], dict[str, int]]:
    """The samples whose prompt fits `max_tokens` (all of them without a budget), and for each other
    sample the smallest budget its prompt needs. When none fits, an InputError says what to raise it to."""
    if max_tokens is None:
        return samples, {}
    kept: list[Sample] = []
    over: dict[str, int] = {}
    for sample in samples:
        try:
            fit_prompt(tokenizer, prompts[sample.id], max_tokens, sample.id)
            kept.append(sample)
        except PromptOverBudget as exc:
            over[sample.id] = exc.needs
    if not kept:
        raise InputError(
            f"no sample's prompt fits workload.max_input_len {max_tokens} (choices and instructions are never cut); "
            f"raise it to {min(over.values())} or more"
        )
    return kept, over


def _shorten(tokenizer: Any, prompt: Prompt, field: str, max_tokens: int) -> Prompt:
    """Drop tokens from the end of `field` until the prompt fits or the field is gone.

    Token counts do not add up exactly across a cut (tokens merge at the seam), so the cut is made,
    the whole prompt counted again, and repeated with at least one more token gone each time."""
    body_ids = _ids(tokenizer, prompt.body(field))
    keep = len(body_ids)
    current = prompt
    while keep > 0:
        excess = _count(tokenizer, current.text) - max_tokens
        if excess <= 0:
            break
        keep = max(0, min(keep - 1, keep - excess))
        body = tokenizer.decode(body_ids[:keep], skip_special_tokens=False).rstrip() if keep else ""
        current = prompt.with_body(field, body)
    return current


def _ids(tokenizer: Any, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def _count(tokenizer: Any, text: str) -> int:
    return len(_ids(tokenizer, text))
