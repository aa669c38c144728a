"""The bytes a generate call must move between device memory and the chip: the floor of decoding.

A decode step makes one token per row, and to make it the chip must read every weight the
language model uses once (the lm head's included) and, per row, the key/value cache of every
position the new token attends to. At batch size B the weights are read once for all rows (why
batching speeds decoding up); the cache is read per row. For S decode steps (forward calls after
the prompt pass) over a batch whose padded prompt is L tokens long (image placeholders included):

    decode_bytes  = S · W_dec + kv · B · Σ_{j=1..S} (L + j)       kv = 2 · n · k · d · e
    prefill_bytes = W_all + kv · B · L

W_dec: bytes of the parameters a decode step reads: the whole model except the vision tower and
the projector (they run once, in the prefill), and except the input embedding table, of which a
step gathers B rows (when the lm head shares that table, the head reads all of it and it is
counted once). W_all: every parameter once. kv: bytes of the cache per position and row, with n
layers, k key/value heads of width d and e bytes per element (the model's dtype). The prefill's
floor is its compute (`limit_prefill_s`); its bytes (every weight read once, the cache written)
only place the call on a roofline.

It is a lower bound, as a limit must be: activations, the logits and re-reads of what does not fit
in the chip's caches are not counted. Weights stored as tensor subclasses (torchao's quantised
tensors) have no byte count torch reports reliably, so those models get no figure (None, with why).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from vlmperf.errors import InputError
from vlmperf.meters.analytic_flops import DecoderShape
from vlmperf.meters.stages import find_stage_modules

if TYPE_CHECKING:
    from transformers import PreTrainedModel


@dataclass(frozen=True)
class MemoryTraffic:
    """The bytes of one loaded model that a generate call must move (module docstring's names)."""

    decode_weight_bytes: int  # W_dec
    all_weight_bytes: int  # W_all
    kv_bytes_per_position: int  # kv

    def decode_bytes(self, *, batch_size: int, prompt_length: int, decode_steps: int) -> int:
        """Bytes the `decode_steps` forward calls after the prompt pass must read."""
        s = decode_steps
        attended = s * prompt_length + s * (s + 1) // 2
        return s * self.decode_weight_bytes + self.kv_bytes_per_position * batch_size * attended

    def prefill_bytes(self, *, batch_size: int, prompt_length: int) -> int:
        """Bytes the prompt pass must move: every weight once, the prompt's cache written."""
        return self.all_weight_bytes + self.kv_bytes_per_position * batch_size * prompt_length

    def as_dict(self) -> dict[str, int]:
        return {
            "decode_weight_bytes": self.decode_weight_bytes,
            "all_weight_bytes": self.all_weight_bytes,
            "kv_bytes_per_position": self.kv_bytes_per_position,
        }


def _bytes(parameter: torch.Tensor) -> int:
    if type(parameter.data) is not torch.Tensor:
        raise InputError(
            f"a weight is a {type(parameter.data).__name__} (a quantised tensor subclass), whose stored bytes torch "
            "does not report, so the bytes a decode step reads are not known"
        )
    return parameter.numel() * parameter.element_size()


def memory_traffic(model: PreTrainedModel) -> MemoryTraffic:
    """The byte counts of a loaded model; InputError (with why) where they cannot be known: a language
    model without a formula (`analytic_flops.DecoderShape`) or quantised tensor subclasses."""
    config = model.config
    shape = DecoderShape.of(getattr(config, "text_config", None) or config)
    stages = find_stage_modules(model)
    once_per_call = {id(p) for m in (*stages.vision, *stages.projector) for p in m.parameters()}
    embedding = model.get_input_embeddings()
    head = model.get_output_embeddings()
    gathered = {id(p) for p in embedding.parameters()} if embedding is not None else set()
    if head is not None:
        gathered -= {id(p) for p in head.parameters()}  # tied: the head reads the whole table
    all_bytes = decode_bytes = 0
    for parameter in model.parameters():  # shared parameters come once
        size = _bytes(parameter)
        all_bytes += size
        if id(parameter) not in once_per_call and id(parameter) not in gathered:
            decode_bytes += size
    element = torch.tensor([], dtype=model.dtype).element_size()
    kv = 2 * shape.layers * shape.kv_heads * shape.head_dim * element
    return MemoryTraffic(decode_bytes, all_bytes, kv)
