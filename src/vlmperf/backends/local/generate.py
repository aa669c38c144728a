"""One measured generate call: the window, its first token, and what came out.

The window is `generate` itself. Its edges are clock marks with one device synchronisation after
the end mark; the first generated token is marked from inside generate by a stopping criterion that
never stops (generate calls it once per step, after the step's token is chosen), and, where they are
taken inside the window (`stages=True`), the stage hooks mark the forward calls. Nothing else runs
inside the window: preprocessing, copying to the device and decoding the output happen outside it.

The loaded model's optimisations reach generate through two functions, so that any other pass
(FLOP counting, profiling) can make exactly the timed call,
`model.generate(**inputs, generation_config=config, **generate_kwargs(loaded))`:
`generation_config` (static cache and compile config, prompt lookup) and `generate_kwargs` (the
draft model). With speculative decoding the model's generate is the observed one installed at
load (see `speculative.Speculative.install`), so every such call decodes alike.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import torch
from transformers import GenerationConfig
from transformers.generation.stopping_criteria import StoppingCriteria, StoppingCriteriaList

from vlmperf.backends.local.compile import apply_compile
from vlmperf.backends.local.inputs import PreparedBatch
from vlmperf.backends.local.loaded import LoadedModel
from vlmperf.backends.local.target import LocalTarget
from vlmperf.config.spec import Generation
from vlmperf.meters.clock import Clock
from vlmperf.meters.stages import StageTimer


class FirstTokenMarker(StoppingCriteria):
    """Marks the clock when the first generated token exists, and counts decoding steps.

    It is a stopping criterion that never stops: generate calls its stopping criteria once per step,
    right after the step's tokens are chosen and appended, with the tokens still on the device. (It
    used to be a streamer, but generate hands a streamer each step's tokens through `tokens.cpu()`,
    a host copy that waits for the device every step; here nothing is read from the device: the
    mark is a clock mark, a recorded CUDA event on GPU.)

    With assisted / speculative decoding generate calls it once per verification step, which adds
    one or more tokens.
    """

    def __init__(self, clock: Clock) -> None:
        super().__init__()
        self._clock = clock
        self.steps = 0
        self.first_token_mark: Any = None
        self._never: torch.Tensor | None = None

    def __call__(self, input_ids: torch.Tensor, scores: Any, **kwargs: Any) -> torch.Tensor:
        if self.steps == 0:
            self.first_token_mark = self._clock.mark()
            self._never = torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
        self.steps += 1
        assert self._never is not None  # made at the first step
        return self._never


@dataclass
class GenerateResult:
    """One timed call. `steps`: generate's steps after the prompt pass chose its token, i.e. decoding
    steps (with speculative decoding: verification steps, each adding 1 or more tokens)."""

    latency_s: float
    ttft_s: float | None
    steps: int
    output_tokens: list[int]
    outputs: list[str]
    speculative: dict[str, Any] | None = None
    """SpeculativeStats.as_dict() of this call (None without speculative decoding)."""
    stages: dict[str, float | None] | None = None
    """The stage breakdown of this call (`vlmperf.meters.stages`), taken inside the window by module
    hooks that only record clock marks; None when the call was made with `stages=False`."""


def generation_config(loaded: LoadedModel, spec: Generation) -> GenerationConfig:
    """Exactly the decoding vlmperf's settings describe.

    The model's own generation defaults were reduced to its token ids when it was loaded (see
    `loading._neutralise_generation_defaults`); here every setting that changes the work per step
    or the outputs is pinned, and the result is recorded with each cell. The loaded model's own
    optimisations are added: a static cache and compile config (compile), prompt lookup.
    """
    ids = loaded.model.generation_config
    config = GenerationConfig(
        max_new_tokens=spec.token_limit(),
        min_new_tokens=spec.token_limit() if spec.mode == "fixed" else None,
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
    apply_compile(config, loaded.compile_config)
    if loaded.speculative is not None:
        loaded.speculative.configure(config)
    return config


def generate_kwargs(loaded: LoadedModel, target: LocalTarget | None = None) -> dict[str, Any]:
    """The keyword arguments of the cell's generate call besides the inputs, generation_config and streamer.

    `target`, when given, must be the target the model was loaded for (cells share a loaded model
    only when their targets are equal); a mismatch is a bug in the caller.
    """
    if target is not None and loaded.target is not None and target != loaded.target:
        raise ValueError(f"generate_kwargs: the model was loaded for {loaded.target!r}, not for {target!r}")
    return loaded.speculative.generate_kwargs() if loaded.speculative is not None else {}


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


def timed_generate(
    loaded: LoadedModel,
    batch: PreparedBatch,
    config: GenerationConfig,
    clock: Clock,
    extra: dict[str, Any] | None = None,
    *,
    stages: bool = True,
) -> GenerateResult:
    """Run generate once inside a measured window and return its timings, stages and outputs.

    `extra`: generate_kwargs(loaded) (computed here when not given). `stages`: take the stage
    breakdown with module hooks inside the window (`meters.stages`); False leaves the window with
    nothing but generate and the first-token marker (`GenerateResult.stages` is then None).

    No grad mode is set here: generate sets its own (no_grad), exactly as in a user's loop. Wrapping
    the call in inference_mode made the measured call about 10% faster than a bare generate loop on
    small models (benchmarks/harness_overhead.py), so vlmperf would have reported a latency no user
    sees.
    """
    marker = FirstTokenMarker(clock)
    extra = generate_kwargs(loaded) if extra is None else extra
    timer = StageTimer(loaded.model, clock, compiled=loaded.compile_config is not None) if stages else nullcontext()
    with timer:
        start = clock.mark()
        sequences = loaded.model.generate(
            **batch.inputs, generation_config=config, stopping_criteria=StoppingCriteriaList([marker]), **extra
        )
        end = clock.mark()
    clock.synchronize()
    speculative = loaded.speculative.last_stats if loaded.speculative is not None else None
    latency = clock.elapsed_s(start, end)
    ttft = clock.elapsed_s(start, marker.first_token_mark) if marker.first_token_mark is not None else None
    generated = sequences[:, batch.prompt_length :].cpu()
    counts = count_output_tokens(generated, eos_ids(config))
    outputs = [
        loaded.tokenizer.decode(row[:n], skip_special_tokens=True).strip()
        for row, n in zip(generated, counts, strict=True)
    ]
    return GenerateResult(
        latency,
        ttft,
        marker.steps,
        counts,
        outputs,
        speculative.as_dict() if speculative is not None else None,
        timer.seconds(latency) if isinstance(timer, StageTimer) else None,
    )
