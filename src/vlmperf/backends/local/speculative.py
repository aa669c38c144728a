"""Speculative decoding through transformers' assisted generation, and how much of the draft was kept.

Two drafters: a draft model (`speculative: assistant`, transformers' `assistant_model`) or n-grams
looked up in the prompt (`speculative: prompt-lookup`, `prompt_lookup_num_tokens`). The target
verifies every drafted token, so greedy outputs are exactly those of plain greedy decoding.

Per generate call `SpeculativeStats` counts, at each verification step (one forward pass of the
target), the tokens drafted and the drafted tokens the target accepted. They are read where
transformers reports them, the candidate generator's `update_candidate_strategy(input_ids,
scores, num_matches)`: `scores` holds drafted + 1 positions, `num_matches` the accepted drafts
(after transformers trims at EOS or the length limit). Observing changes no output.

Two things transformers 5.23 gets wrong for vision-language models are put right during the call:
- a draft VLM never saw the image: an assistant's prefill is not marked as a first iteration, so
  the pre-encoded image features were dropped and the draft read placeholder tokens as text
  (acceptance 0 for a draft identical to the target). The draft now encodes the image with its
  own vision tower once per call, and reads those features in its prefill;
- a draft that proposes the image placeholder token (prompt lookup copies it from the prompt)
  crashed the first verification, which counts placeholders against image features. Drafts are
  cut before the first placeholder token; only how much is drafted changes, never the output.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from transformers import GenerationConfig

from vlmperf.backends.local.loaded import LoadedModel
from vlmperf.backends.local.target import LocalTarget
from vlmperf.errors import InputError

PROMPT_LOOKUP_TOKENS = 10
"""Tokens drafted per step by prompt lookup when draft_tokens is unset (transformers' prompt-lookup default)."""

_TEXT_INPUTS = ("input_ids", "attention_mask")


@dataclass
class SpeculativeStats:
    """What one generate call drafted and kept.

    - `acceptance_rate` = accepted_tokens / drafted_tokens (None when nothing was drafted);
    - `mean_accepted_tokens` = accepted_tokens / verification_steps: accepted drafted tokens per
      target forward pass, WITHOUT the bonus token the target adds at every step (tokens per step
      are mean_accepted_tokens + 1).
    """

    verification_steps: int = 0
    drafted_tokens: int = 0
    accepted_tokens: int = 0

    def add_step(self, drafted: int, accepted: int) -> None:
        self.verification_steps += 1
        self.drafted_tokens += drafted
        self.accepted_tokens += accepted

    def as_dict(self) -> dict[str, Any]:
        steps, drafted, accepted = self.verification_steps, self.drafted_tokens, self.accepted_tokens
        return {
            "verification_steps": steps,
            "drafted_tokens": drafted,
            "accepted_tokens": accepted,
            "acceptance_rate": accepted / drafted if drafted else None,
            "mean_accepted_tokens": accepted / steps if steps else None,
        }


def assistant_target(target: LocalTarget) -> LocalTarget:
    """How the draft model is loaded: the target's loader, device, dtype and attention; no optimisations."""
    assert target.assistant_model is not None
    return LocalTarget(
        model=target.assistant_model,
        no_weights=target.no_weights,
        dtype=target.dtype,
        device=target.device,
        attn_implementation=target.attn_implementation,
        trust_remote_code=target.trust_remote_code,
    )


def check_same_vocabulary(target: LoadedModel, draft: LoadedModel, assistant_model: str) -> None:
    """Assisted generation compares token ids: target and draft must share the vocabulary and image token."""
    sizes = [m.model.config.get_text_config().vocab_size for m in (target, draft)]
    lengths = [len(m.tokenizer) for m in (target, draft)]
    if sizes[0] != sizes[1] or lengths[0] != lengths[1]:
        raise InputError(
            f"assistant_model {assistant_model!r} has another vocabulary (vocab_size {sizes[1]}, tokenizer "
            f"{lengths[1]} tokens) than the target (vocab_size {sizes[0]}, tokenizer {lengths[0]} tokens): a draft "
            "must use the target's tokenizer; pick a smaller model of the same family, or speculative prompt-lookup"
        )
    if draft.multimodal and draft.image_token_id != target.image_token_id:
        raise InputError(
            f"assistant_model {assistant_model!r} marks images with token {draft.image_token_id}, the target with "
            f"{target.image_token_id}: a draft must share the target's processor; pick one of the same family"
        )


@dataclass
class Speculative:
    """A loaded model's speculative decoding: the drafter, how many tokens it drafts per step, and the
    stats of the last generate call.

    `install(model)` wraps the target model's `generate` (on the instance) so that every call, the
    timed one and any pass that replays it, decodes the same way: batch size 1 is enforced, the
    draft model is passed when the caller left it out, and the stats of the call are kept in
    `last_stats`.
    """

    mode: str
    draft_tokens: int | None
    draft: LoadedModel | None = None
    image_token_id: int | None = None
    info: dict[str, Any] = field(default_factory=dict)
    last_stats: SpeculativeStats | None = None

    def __post_init__(self) -> None:
        if self.mode == "assistant":
            self._configure_draft()
        else:
            self.info = {"mode": self.mode, "prompt_lookup_num_tokens": self.draft_tokens or PROMPT_LOOKUP_TOKENS}

    def _configure_draft(self) -> None:
        """An explicit draft_tokens drafts exactly that many per step: fixed schedule, no confidence cut-off."""
        assert self.draft is not None
        config = self.draft.model.generation_config
        if self.draft_tokens is not None:
            config.num_assistant_tokens = self.draft_tokens
            config.num_assistant_tokens_schedule = "constant"
            config.assistant_confidence_threshold = 0.0
        settings = {**config._get_default_generation_params(), **config.to_diff_dict()}
        keys = ("num_assistant_tokens", "num_assistant_tokens_schedule", "assistant_confidence_threshold")
        self.info = {
            "mode": self.mode,
            **{key: settings.get(key) for key in keys},
            "draft": {k: self.draft.info.get(k) for k in ("config_source", "weights", "parameters", "model_class")},
        }

    def configure(self, config: GenerationConfig) -> None:
        """The generation config's part: prompt lookup is switched on there."""
        if self.mode == "prompt-lookup":
            config.prompt_lookup_num_tokens = self.draft_tokens or PROMPT_LOOKUP_TOKENS

    def generate_kwargs(self) -> dict[str, Any]:
        return {"assistant_model": self.draft.model} if self.draft is not None else {}

    def check_batch(self, batch_size: int) -> None:
        if batch_size > 1:
            raise InputError(
                f"speculative {self.mode} runs batch size 1 only (transformers' assisted generation decodes one "
                f"sequence at a time), this cell has batch size {batch_size}: set scenario.batch_size 1 for "
                "speculative cells"
            )

    def install(self, model: Any) -> None:
        """Route the model's generate calls (and its draft's prefill) through the observed path."""
        generate = model.generate
        candidate_generator = model._get_candidate_generator
        call: dict[str, Any] = {}

        def observed_generate(*args: Any, **kwargs: Any) -> Any:
            input_ids = kwargs.get("input_ids", args[0] if args else None)
            self.check_batch(int(input_ids.shape[0]) if input_ids is not None else 1)
            for key, value in self.generate_kwargs().items():
                kwargs.setdefault(key, value)
            call["stats"] = SpeculativeStats()
            call["images"] = {k: v for k, v in kwargs.items() if isinstance(v, torch.Tensor) and k not in _TEXT_INPUTS}
            try:
                return generate(*args, **kwargs)
            finally:
                self.last_stats = call.pop("stats")
                call.pop("images")

        def observed_candidate_generator(*args: Any, **kwargs: Any) -> Any:
            generator = candidate_generator(*args, **kwargs)  # inside generate: what follows is timed, under no_grad
            self._fit_to_images(generator, call["images"])
            _count_steps(generator, call["stats"])
            return generator

        model.generate = observed_generate
        model._get_candidate_generator = observed_candidate_generator
        if self.draft is not None:
            draft = self.draft.model
            draft.prepare_inputs_for_generation = _prefill_sees_images(draft.prepare_inputs_for_generation)

    def _draft_features(self, images: dict[str, Any]) -> dict[str, Any] | None:
        """The image features of a draft VLM, from its own vision tower (None: no draft VLM or no images)."""
        draft = self.draft
        if draft is None or not draft.multimodal or not images:
            return None
        return draft.model._prepare_multimodal_encoder_kwargs_for_generation(dict(images)).get("mm_encoder_outputs")

    def _fit_to_images(self, generator: Any, images: dict[str, Any]) -> None:
        assistant_kwargs = getattr(generator, "assistant_kwargs", None)
        if assistant_kwargs is not None and "mm_encoder_outputs" in assistant_kwargs:
            draft_features = self._draft_features(images)
            if draft_features:
                assistant_kwargs["mm_encoder_outputs"] = draft_features
            else:  # a text-only draft reads the placeholders as tokens; it has no vision tower to use them
                del assistant_kwargs["mm_encoder_outputs"]
        if self.image_token_id is not None:
            generator.get_candidates = _cut_at_token(generator.get_candidates, self.image_token_id)


def _count_steps(generator: Any, stats: SpeculativeStats) -> None:
    update = generator.update_candidate_strategy

    def counted(input_ids: Any, scores: Any, num_matches: int) -> Any:
        stats.add_step(drafted=int(scores.shape[1]) - 1, accepted=int(num_matches))
        return update(input_ids, scores, num_matches)

    generator.update_candidate_strategy = counted


def _cut_at_token(get_candidates: Any, token_id: int) -> Any:
    def cut(input_ids: Any, **kwargs: Any) -> Any:
        candidates, logits = get_candidates(input_ids, **kwargs)
        start = input_ids.shape[1]
        hits = (candidates[0, start:] == token_id).nonzero()
        if hits.numel() == 0:
            return candidates, logits
        keep = int(hits[0, 0])
        return candidates[:, : start + keep], (logits[:, :keep] if logits is not None else None)

    return cut


def _prefill_sees_images(prepare: Any) -> Any:
    """An assistant's prefill (empty cache) is a first iteration: it must see the image features."""

    def prepare_inputs(input_ids: Any, *args: Any, is_first_iteration: bool | None = False, **kwargs: Any) -> Any:
        cache = kwargs.get("past_key_values")
        empty = cache is None or cache.get_seq_length() == 0
        if not is_first_iteration and empty and kwargs.get("mm_encoder_outputs"):
            is_first_iteration = True
        return prepare(input_ids, *args, is_first_iteration=is_first_iteration, **kwargs)

    return prepare_inputs
