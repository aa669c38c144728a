"""One measured generate call: the window, its first token, and what came out.

The window is `generate` itself. Its edges are clock marks with one device synchronisation after
the end mark; the first generated token is marked from inside generate by a streamer (transformers
hands each step's tokens to it; the first hand-off is the prompt). Nothing else runs inside the
window: preprocessing, copying to the device and decoding the output happen outside it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from transformers import GenerationConfig
from transformers.generation.streamers import BaseStreamer

from vlmperf.backends.local.inputs import PreparedBatch
from vlmperf.backends.local.loading import LoadedModel
from vlmperf.config.spec import Generation
from vlmperf.meters.clock import Clock


class FirstTokenMarker(BaseStreamer):
    """Marks the clock when the first generated token is handed over, and counts decoding steps."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self.prompt_seen = False
        self.steps = 0
        self.first_token_mark: Any = None

    def put(self, value: torch.Tensor) -> None:
        if not self.prompt_seen:
            self.prompt_seen = True
            return
        if self.steps == 0:
            self.first_token_mark = self._clock.mark()
        self.steps += 1

    def end(self) -> None:
        """Nothing to flush."""


@dataclass
class GenerateResult:
    latency_s: float
    ttft_s: float | None
    steps: int
    output_tokens: list[int]
    outputs: list[str]


def generation_config(loaded: LoadedModel, spec: Generation) -> GenerationConfig:
    """Exactly the decoding vlmperf's settings describe.

    The model's own generation defaults were reduced to its token ids when it was loaded (see
    `loading._neutralise_generation_defaults`); here every setting that changes the work per step
    or the outputs is pinned, and the result is recorded with each cell.
    """
    ids = loaded.model.generation_config
    config = GenerationConfig(
        max_new_tokens=spec.max_new_tokens,
        min_new_tokens=spec.max_new_tokens if spec.mode == "fixed" else None,
        do_sample=spec.do_sample,
        num_beams=1,
        num_return_sequences=1,
        use_cache=True,
        return_dict_in_generate=False,
        bos_token_id=ids.bos_token_id,
        eos_token_id=ids.eos_token_id,
        pad_token_id=ids.pad_token_id,
    )
    if spec.do_sample:
        config.temperature, config.top_p, config.top_k = spec.temperature, spec.top_p, 0
    return config


def eos_ids(config: GenerationConfig) -> set[int]:
    eos = config.eos_token_id
    return set(eos) if isinstance(eos, (list, tuple)) else ({eos} if eos is not None else set())


def count_output_tokens(generated: torch.Tensor, eos: set[int]) -> list[int]:
    """Per row: tokens up to and including the first EOS (what follows it is padding), else all."""
    counts = []
    for row in generated.tolist():
        stop = next((i for i, token in enumerate(row) if token in eos), None)
        counts.append(len(row) if stop is None else stop + 1)
    return counts


def timed_generate(loaded: LoadedModel, batch: PreparedBatch, config: GenerationConfig, clock: Clock) -> GenerateResult:
    """Run generate once inside a measured window and return its timings and outputs.

    No grad mode is set here: generate sets its own (no_grad), exactly as in a user's loop. Wrapping
    the call in inference_mode made the measured call about 10% faster than a bare generate loop on
    small models (benchmarks/harness_overhead.py), so vlmperf would have reported a latency no user
    sees.
    """
    marker = FirstTokenMarker(clock)
    start = clock.mark()
    sequences = loaded.model.generate(**batch.inputs, generation_config=config, streamer=marker)
    end = clock.mark()
    clock.synchronize()
    latency = clock.elapsed_s(start, end)
    ttft = clock.elapsed_s(start, marker.first_token_mark) if marker.first_token_mark is not None else None
    generated = sequences[:, batch.prompt_length :].cpu()
    counts = count_output_tokens(generated, eos_ids(config))
    outputs = [loaded.tokenizer.decode(row[:n], skip_special_tokens=True).strip() for row, n in zip(generated, counts)]
    return GenerateResult(latency, ttft, marker.steps, counts, outputs)
