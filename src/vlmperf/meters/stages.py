"""Stage breakdown of one timed generate call: vision, projector, prefill, decode.

Forward hooks on a handful of modules (the vision tower, the projector, the top model) take a
clock mark when each call starts and ends. On GPU a mark is a recorded CUDA event, so the hooks
never wait for the device; every elapsed time is read after the caller's one synchronisation at
the end of the window (DESIGN: measurement rules). Only these few modules are hooked, so the cost
inside the window is a few marks per forward pass, not one per layer.

Definitions (all in seconds, all inside the same window as `latency_s`):

- `vision_s`: time inside the vision tower's forward calls, excluding a projector nested in it
  (Qwen2-VL's merger lives inside `visual`);
- `projector_s`: time inside the projector's forward calls;
- `prefill_s`: the first forward call of the top model (the prompt pass) minus the vision and
  projector time spent inside it;
- `decode_s`: every later forward call of the top model, minus any vision and projector time
  inside them;
- `generate_overhead_s` = latency_s − (vision_s + projector_s + prefill_s + decode_s): generate's
  own work between forward passes (input preparation, logits processing, stopping checks, the
  streamer, cache bookkeeping).

A model without a vision tower (a text-only causal LM) gives null `vision_s` and `projector_s`; a
vision-language model whose batch has no image gives 0.0 for them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from vlmperf.meters.clock import Clock
from vlmperf.meters.hooks import HookSet

STAGES = ("vision_s", "projector_s", "prefill_s", "decode_s")
"""The stages that partition the forward passes of one generate call, in pipeline order."""

VISION_PATHS: tuple[tuple[str, ...], ...] = (
    ("vision_tower",),  # llava, llava-next, llava-onevision, paligemma, gemma3, mistral3, internvl, aya-vision
    ("visual",),  # qwen2-vl, qwen2.5-vl, qwen3-vl, glm4v
    ("vision_model",),  # idefics2/3, smolvlm, mllama, llama4, blip-2, instructblip, janus, deepseek-vl
)
PROJECTOR_PATHS: tuple[tuple[str, ...], ...] = (
    ("multi_modal_projector",),  # llava family, paligemma, gemma3, mllama, llama4, mistral3
    ("connector",),  # idefics2/3, smolvlm
    ("visual.merger",),  # qwen2-vl family, glm4v: the merger inside the vision tower
    ("aligner",),  # janus, deepseek-vl
    ("qformer", "language_projection"),  # blip-2, instructblip: both together
)
"""Known attribute paths of each stage across VLM families, tried in order. Each entry is a group
of paths that together make the stage; a path is tried under the wrapper's `model.` (transformers
5 keeps the base model there) and at the top. The first group whose paths all exist wins."""

PREFIXES = ("model.", "")


@dataclass(frozen=True)
class StageModules:
    """The modules whose forward calls bound each stage."""

    top: torch.nn.Module
    vision: tuple[torch.nn.Module, ...]
    projector: tuple[torch.nn.Module, ...]
    projector_in_vision: bool


def _resolve(model: torch.nn.Module, groups: tuple[tuple[str, ...], ...]) -> tuple[torch.nn.Module, ...]:
    for group in groups:
        for prefix in PREFIXES:
            found = [submodule(model, prefix + path) for path in group]
            present = [module for module in found if module is not None]
            if len(present) == len(found):
                return tuple(present)
    return ()


def submodule(model: torch.nn.Module, path: str) -> torch.nn.Module | None:
    """The module at a dotted attribute path, or None when the model has none there."""
    module: Any = model
    for part in path.split("."):
        module = getattr(module, part, None)
        if not isinstance(module, torch.nn.Module):
            return None
    return module


def find_stage_modules(model: torch.nn.Module) -> StageModules:
    """The vision tower and projector of a model, by the known attribute names (none for a text model)."""
    vision = _resolve(model, VISION_PATHS)
    projector = _resolve(model, PROJECTOR_PATHS)
    inside = {id(m) for tower in vision for m in tower.modules()}
    nested = bool(projector) and all(id(p) in inside for p in projector)
    return StageModules(top=model, vision=vision, projector=projector, projector_in_vision=nested)


@dataclass
class _Call:
    start: Any
    end: Any
    top_index: int | None
    """Which top-model forward call was open when this call began (None: outside any)."""


class StageTimer(HookSet):
    """Install stage hooks for one generate call; read the stages after one synchronisation.

    ``with StageTimer(model, clock) as stages: model.generate(...)``, then ``clock.synchronize()``
    and ``stages.seconds(latency_s)``. The hooks are removed when the block ends, also on error.
    `compiled`: whether generate may compile the model's forward (`HookSet`).
    """

    def __init__(self, model: torch.nn.Module, clock: Clock, compiled: bool = True) -> None:
        super().__init__(compiled)
        self.modules = find_stage_modules(model)
        self._clock = clock
        self._calls: dict[str, list[_Call]] = {"top": [], "vision": [], "projector": []}
        self._open: dict[int, list[tuple[Any, int | None]]] = {}
        self._top_open = 0

    @property
    def top_calls(self) -> int:
        """Forward calls of the top model so far: the prompt pass plus one per later step."""
        return len(self._calls["top"])

    def install(self) -> None:
        self._hook(self.modules.top, "top")
        for module in self.modules.vision:
            self._hook(module, "vision")
        for module in self.modules.projector:
            self._hook(module, "projector")

    def _hook(self, module: torch.nn.Module, stage: str) -> None:
        clock, calls, key = self._clock, self._calls[stage], id(module)
        stack = self._open.setdefault(key, [])

        def before(_module: torch.nn.Module, _args: Any) -> None:
            if stage == "top":
                self._top_open += 1
                index: int | None = len(calls)
            else:
                index = len(self._calls["top"]) if self._top_open else None
            stack.append((clock.mark(), index))

        def after(_module: torch.nn.Module, _args: Any, _output: Any) -> None:
            end = clock.mark()
            start, index = stack.pop()
            if stage == "top":
                self._top_open -= 1
            calls.append(_Call(start, end, index))

        self._add(module, before, after)

    def _total(self, stage: str, where: Any = None) -> float:
        return sum(self._clock.elapsed_s(c.start, c.end) for c in self._calls[stage] if where is None or where(c))

    def _inside(self, where: Any) -> float:
        """Vision plus projector time in the top calls `where` selects, a nested projector counted once."""
        vision = self._total("vision", where)
        return vision if self.modules.projector_in_vision else vision + self._total("projector", where)

    def seconds(self, latency_s: float | None = None) -> dict[str, float | None]:
        """The stages in seconds; with the window's latency, also `generate_overhead_s`.

        Call only after the clock has been synchronised: on GPU the marks are events that the
        device may not have reached before.
        """
        top = [self._clock.elapsed_s(c.start, c.end) for c in self._calls["top"]]
        projector = self._total("projector") if self.modules.projector else None
        vision = self._total("vision") if self.modules.vision else None
        if vision is not None and projector is not None and self.modules.projector_in_vision:
            vision -= projector
        result: dict[str, float | None] = {
            "vision_s": vision,
            "projector_s": projector,
            "prefill_s": top[0] - self._inside(lambda c: c.top_index == 0) if top else None,
            "decode_s": sum(top[1:]) - self._inside(lambda c: c.top_index not in (None, 0)) if top else None,
        }
        if latency_s is not None:
            result["generate_overhead_s"] = generate_overhead_s(result, latency_s)
        return result


def generate_overhead_s(stages: dict[str, float | None], latency_s: float) -> float:
    """latency_s − (vision_s + projector_s + prefill_s + decode_s), null stages counted as 0."""
    return latency_s - sum(stages.get(name) or 0.0 for name in STAGES)
