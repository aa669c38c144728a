"""Count the FLOPs of one generate call with torch's FlopCounterMode, in a pass of its own.

The count is a number of floating-point operations, never a rate. It is taken by running the very
generate call a timed run makes (the caller passes it as a zero-argument callable) under
`FlopCounterMode`, outside every timed window: the counter sees every op in Python and would slow
the call down many times.

What is counted: matrix products (mm, addmm, bmm, baddbmm, convolution) and attention, as
2 × multiply-accumulates. Norms, activations, softmax, bias adds and rotary embeddings' element-wise
work are not (torch counts none of them), which is also what the analytic count
(`meters.analytic_flops`) counts.

Attention is counted on every path. torch has formulas for the CUDA SDPA kernels (flash,
memory-efficient, cuDNN); the SDPA ops it has none for are registered here (`_SDPA_OPS_WITHOUT_FORMULA`):
without them a model run with `attn_implementation="sdpa"` on CPU counted zero attention FLOPs.
They use torch's own `sdpa_flop_count`, the convention of torch's formulas: full, non-causal score
matrices (2·b·h·s_q·s_k·d for Q·Kᵀ plus as much for the weighted sum of V, whatever the mask),
which is also what eager attention computes, so both paths give the same count. Any other op that
looks like compute (a matmul, convolution or attention op of a library or a quantisation backend)
and has no formula is listed in `FlopCount.uncounted_ops` instead of being taken as zero.

Splits:
- prefill / decode: `prefill_flops` is everything up to the end of the top model's first forward
  call: the vision tower and projector (transformers 5 encodes images before that call, through
  `get_image_features`) and the prompt pass. `decode_flops` is everything after it. With assisted
  decoding, the assistant's work before the main model's first call (its own prompt pass and first
  drafts) is in the prefill, and the main model's later calls verify several tokens each.
- by stage: vision tower, projector, language model, lm head, found by a small table of known
  attribute names (shared with the stage timer, `meters.stages`). Each FLOP goes to the innermost
  stage running when it was counted (Qwen2-VL's merger, inside its vision tower, is the projector);
  what runs in no stage is `other`. The stages therefore sum to the total.
- by layer class: for every module class of the model (e.g. `CLIPEncoderLayer`), its instance
  count and the FLOPs inside its calls (a call nested in another instance of the same class is
  counted once).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.nn.modules.module import register_module_forward_hook, register_module_forward_pre_hook
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode, flop_registry, register_flop_formula, sdpa_flop_count

from vlmperf.errors import InputError
from vlmperf.meters.stages import find_stage_modules, submodule

aten = torch.ops.aten

_SDPA_OPS_WITHOUT_FORMULA = (
    aten._scaled_dot_product_flash_attention_for_cpu,  # F.scaled_dot_product_attention on CPU
    aten._scaled_dot_product_fused_attention_overrideable,  # SDPA of out-of-tree backends (XPU, HPU)
    aten._scaled_dot_product_attention_math_for_mps,  # SDPA on Apple GPUs
)
"""SDPA ops that torch (2.13) has no FLOP formula for. Each takes query, key, value first, shaped
(batch, heads, sequence, head_dim) like the CUDA SDPA ops torch does count. Two lower ops,
`_cudnn_attention_forward` and `_flash_attention_forward_no_dropout_inplace`, have no formula
either, but are only called from inside other kernels, below what a counting mode sees."""

_COMPUTE_OP = re.compile(r"mm|mv|matmul|conv|attention|attn|linear|einsum|gemm|dot")
"""Op names that suggest a matrix product; one of these without a formula is reported, not ignored."""

STAGE_NAMES = ("vision", "projector", "language_model", "lm_head")
OTHER = "other"
LANGUAGE_MODEL_PATHS = ("model.language_model", "language_model", "model.text_model", "text_model", "model")
"""Where the decoder stack lives: VLM wrappers of transformers 5 first, then a causal LM's `model`."""


def _bhsd_sdpa_flop(
    query_shape: Any, key_shape: Any, value_shape: Any, *args: Any, out_shape: Any = None, **kwargs: Any
) -> int:
    """Two full (non-causal) matmuls per head, as torch counts its CUDA SDPA kernels."""
    return sdpa_flop_count(query_shape, key_shape, value_shape)


def register_attention_formulas() -> list[str]:
    """Register a formula for each SDPA op torch leaves uncounted; safe to call any number of times.

    The formulas go into torch's global registry, which every FlopCounterMode copies when it is
    created. An op that a later torch counts itself keeps torch's formula. Returns the ops
    registered by this call.
    """
    missing = [op for op in _SDPA_OPS_WITHOUT_FORMULA if op not in flop_registry]
    if missing:
        register_flop_formula(missing)(_bhsd_sdpa_flop)
    return [str(op) for op in missing]


@dataclass
class FlopCount:
    """FLOPs of one generate call over a whole batch (divide by the batch size for a sample's share)."""

    prefill_flops: int
    """Up to the end of the top model's first forward call: images through the vision tower and
    projector, the padded prompt through the language model, the lm head."""
    decode_flops: int
    """Every later forward call of the generate call (one per generated token after the first)."""
    forward_calls: int
    """Forward calls of the top model: 1 prompt pass + the decode steps."""
    by_stage: dict[str, dict[str, int]]
    """`vision`, `projector`, `language_model`, `lm_head`, `other` -> {"prefill": n, "decode": n};
    sums to the total. A stage the model does not have is absent; `other` is what ran in none of
    them (an assistant model's drafts, for one)."""
    by_module: dict[str, dict[str, int]]
    """Qualified module name of each stage module (e.g. `model.vision_tower`) -> {"prefill", "decode"},
    plus `other`; the same FLOPs as `by_stage`, keyed by where they ran."""
    stages: dict[str, list[str]]
    """Stage -> the qualified names of its modules (empty for `other`)."""
    by_class: dict[str, dict[str, int]]
    """Module class -> {"count": instances in the model, "prefill": n, "decode": n}, for every class
    that did any counted work."""
    by_op: dict[str, int]
    """Op (e.g. `aten.mm`) -> FLOPs, over the whole call."""
    uncounted_ops: dict[str, int] = field(default_factory=dict)
    """Compute-looking ops that ran without a FLOP formula -> calls. Non-empty means the count is
    too low: register a formula for them (torch.utils.flop_counter.register_flop_formula)."""

    def total(self) -> int:
        return self.prefill_flops + self.decode_flops

    @property
    def complete(self) -> bool:
        """Whether every compute op that ran was counted."""
        return not self.uncounted_ops


class _UncountedOps(TorchDispatchMode):
    """Notes each compute-looking op that FlopCounterMode has no formula for (it would count zero).

    Higher-order operators (flex_attention, cond) pass through untouched to FlopCounterMode, which
    knows how to count them; one it has no formula for is noted like any other op.
    """

    supports_higher_order_operators = True

    def __init__(self) -> None:
        super().__init__()
        self.calls: Counter[str] = Counter()

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        packet = getattr(func, "overloadpacket", func)
        if packet not in flop_registry and _COMPUTE_OP.search(str(packet)):
            self.calls[str(packet)] += 1
        return func(*args, **(kwargs or {}))


def find_stages(model: torch.nn.Module) -> dict[str, list[torch.nn.Module]]:
    """The modules of each stage that the model has: vision tower and projector by the stage timer's
    table, the decoder stack by `LANGUAGE_MODEL_PATHS`, the lm head as the output embeddings."""
    found = find_stage_modules(model)
    stages: dict[str, list[torch.nn.Module]] = {"vision": list(found.vision), "projector": list(found.projector)}
    language = next((m for p in LANGUAGE_MODEL_PATHS if (m := submodule(model, p)) is not None), None)
    stages["language_model"] = [language] if language is not None and language is not model else []
    get_head = getattr(model, "get_output_embeddings", None)
    head = get_head() if callable(get_head) else submodule(model, "lm_head")
    stages["lm_head"] = [head] if isinstance(head, torch.nn.Module) else []
    return {name: modules for name, modules in stages.items() if modules}


class _Attribution:
    """Module hooks that split the counter's running total by phase, stage and module class.

    Every hook reads the counter's running total; a module's FLOPs are the difference between its
    exit and its entry. Stage FLOPs are exclusive (minus the stages nested in it), class FLOPs
    inclusive (a decoder layer includes its attention).
    """

    def __init__(self, model: torch.nn.Module, counter: FlopCounterMode) -> None:
        self._counter = counter
        self._top = model
        names = {module: name for name, module in model.named_modules()}
        self.stages = find_stages(model)
        self._stage_of = {m: (stage, names.get(m, stage)) for stage, modules in self.stages.items() for m in modules}
        self.stage_names = {stage: [names.get(m, stage) for m in modules] for stage, modules in self.stages.items()}
        self._class_of = {m: type(m).__name__ for m in names if m is not model}
        self.instances = Counter(self._class_of.values())
        self.forward_calls = 0
        self.prefill_total: int | None = None
        self.by_key: dict[str, Counter[str]] = {}  # stage module name -> phase -> flops
        self.by_class: dict[str, Counter[str]] = {}
        self._stage_stack: list[list[Any]] = []  # [module, entry total, flops of nested stages]
        self._class_open: Counter[str] = Counter()
        self._class_stack: list[tuple[torch.nn.Module, int, bool]] = []
        self._handles: list[Any] = []

    @property
    def phase(self) -> str:
        return "prefill" if self.prefill_total is None else "decode"

    def __enter__(self) -> _Attribution:
        self._handles = [
            register_module_forward_pre_hook(self._enter),
            register_module_forward_hook(self._exit),
            self._top.register_forward_pre_hook(self._top_enter),
            self._top.register_forward_hook(self._top_exit),
        ]
        return self

    def __exit__(self, *exc: object) -> None:
        while self._handles:
            self._handles.pop().remove()

    def _top_enter(self, module: torch.nn.Module, args: Any) -> None:
        self.forward_calls += 1

    def _top_exit(self, module: torch.nn.Module, args: Any, output: Any) -> None:
        if self.prefill_total is None:
            self.prefill_total = self._counter.get_total_flops()

    def _enter(self, module: torch.nn.Module, args: Any) -> None:
        now = None
        if module in self._stage_of:
            now = self._counter.get_total_flops()
            self._stage_stack.append([module, now, 0])
        name = self._class_of.get(module)
        if name is not None:
            outermost = self._class_open[name] == 0
            self._class_open[name] += 1
            entry = self._counter.get_total_flops() if now is None else now
            self._class_stack.append((module, entry, outermost))

    def _exit(self, module: torch.nn.Module, args: Any, output: Any) -> None:
        now = None
        if module in self._stage_of and self._stage_stack and self._stage_stack[-1][0] is module:
            now = self._counter.get_total_flops()
            _, entry, nested = self._stage_stack.pop()
            inclusive = now - entry
            key = self._stage_of[module][1]
            self.by_key.setdefault(key, Counter())[self.phase] += inclusive - nested
            if self._stage_stack:
                self._stage_stack[-1][2] += inclusive
        name = self._class_of.get(module)
        if name is not None and self._class_stack and self._class_stack[-1][0] is module:
            _, entry, outermost = self._class_stack.pop()
            self._class_open[name] -= 1
            if outermost:
                now = self._counter.get_total_flops() if now is None else now
                self.by_class.setdefault(name, Counter())[self.phase] += now - entry


def _phases(counts: Counter[str]) -> dict[str, int]:
    return {"prefill": int(counts["prefill"]), "decode": int(counts["decode"])}


def count_generate_flops(model: torch.nn.Module, generate: Callable[[], Any]) -> FlopCount:
    """Run `generate()` once under FlopCounterMode and split its FLOPs.

    `generate` must be exactly the call the timed run makes, for example
    ``lambda: model.generate(**inputs, generation_config=config)``, on the uncompiled `model`
    (FlopCounterMode counts eager ops). Its result is discarded.
    """
    register_attention_formulas()
    counter = FlopCounterMode(display=False)
    guard = _UncountedOps()
    attribution = _Attribution(model, counter)
    with counter, guard, attribution:
        generate()
    if attribution.forward_calls == 0:
        raise InputError(
            f"the generate callable never called the forward of the {type(model).__name__} passed in; "
            "pass the model whose generate() the callable runs (not a wrapper or a compiled copy)"
        )
    total = counter.get_total_flops()
    prefill = attribution.prefill_total if attribution.prefill_total is not None else total
    by_module = {key: _phases(counts) for key, counts in attribution.by_key.items()}
    by_stage: dict[str, dict[str, int]] = {}
    for stage, keys in attribution.stage_names.items():
        by_stage[stage] = {
            phase: sum(by_module.get(key, {}).get(phase, 0) for key in keys) for phase in ("prefill", "decode")
        }
    other = {
        "prefill": prefill - sum(s["prefill"] for s in by_stage.values()),
        "decode": total - prefill - sum(s["decode"] for s in by_stage.values()),
    }
    by_stage[OTHER] = other
    by_module[OTHER] = dict(other)
    by_class = {
        name: {"count": attribution.instances[name], **_phases(counts)}
        for name, counts in sorted(attribution.by_class.items())
        if counts["prefill"] or counts["decode"]
    }
    global_counts = counter.get_flop_counts().get("Global", {})
    return FlopCount(
        prefill_flops=int(prefill),
        decode_flops=int(total - prefill),
        forward_calls=attribution.forward_calls,
        by_stage=by_stage,
        by_module=by_module,
        stages={**attribution.stage_names, OTHER: []},
        by_class=by_class,
        by_op={str(op): int(n) for op, n in global_counts.items()},
        uncounted_ops=dict(guard.calls),
    )
