"""torch.compile for generate, and what compiling costs (`compile_s`, `recompiles`).

How the model is compiled: transformers' own path. When a generation config has a static KV cache
(`cache_implementation="static"`) and a `compile_config`, generate() runs the prefill eagerly and
the decoding steps through `torch.compile(model.__call__)`. The compile config asks for
`dynamic=True`, so the cache length is symbolic: prompt lengths and `max_new_tokens` never
recompile. torch still specialises a dimension of size 1, so batch size 1 and batch sizes above 1
compile once each. Measured on the built-in tiny model on 2 CPU cores (3 prompt lengths x batch
1, 2, 4, mode default): 2 compilations, 25.6 s with a cold inductor cache (6.0 s warm), then
none. Compiling `model.forward` with a dynamic cache instead took 22 compilations (12 graphs,
40.8 s) for batch 1 and 2 alone: prefill and decode, batch 1 and 2 and the growing cache each made
new graphs.

What it cannot be combined with: transformers' assisted generation needs a dynamic cache, so
`compile` and `speculative` fail the cell together; a quantizer that transformers marks as not
compilable would make generate skip compiling silently, so it fails the cell instead.

The cost: `CompileMonitor` counts torch's own compile events (start and end callbacks of
torch._dynamo) in any window the runner chooses, e.g. the warm-up and each timed run.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from transformers import CompileConfig, GenerationConfig

from vlmperf.backends.local.target import LocalTarget
from vlmperf.errors import InputError


def compile_config(mode: str) -> CompileConfig:
    """The compile config generate() uses for the decoding steps, for one of LocalTarget.compile's modes."""
    config = CompileConfig(fullgraph=False, dynamic=True, backend="inductor", mode=mode)
    # transformers compiles on GPUs only unless told; vlmperf compiles where asked. transformers declares this
    # private flag `= None`, so its inferred type is None although generate() reads it as a bool.
    config._compile_all_devices = True  # type: ignore[assignment]
    return config


def apply_compile(config: GenerationConfig, compiled: CompileConfig | None) -> None:
    """Make generate() compile its decoding steps: a static cache plus the compile config (nothing when None)."""
    if compiled is None:
        return
    config.cache_implementation = "static"
    config.compile_config = compiled


def check_compile_fits(target: LocalTarget) -> None:
    """Settings that cannot be combined with compile, refused before loading."""
    if target.compile != "off" and target.speculative != "off":
        raise InputError(
            f"compile {target.compile} cannot be combined with speculative {target.speculative}: transformers' "
            "assisted generation needs a dynamic KV cache and vlmperf compiles the decoding steps over a static one; "
            "measure them in separate cells (compile: off for speculative cells)"
        )


def check_model_compiles(model: Any, mode: str) -> None:
    """Refuse a quantized model that generate() would silently leave uncompiled."""
    quantizer = getattr(model, "hf_quantizer", None)
    if mode != "off" and quantizer is not None and not quantizer.is_compileable:
        raise InputError(
            f"compile {mode} is not supported by this model's quantization ({type(quantizer).__name__}): transformers "
            "would run it uncompiled; set target.compile off, or use quantization torchao-int8"
        )


CUDA_GRAPH_MODES = ("reduce-overhead", "max-autotune")
"""Modes in which inductor records CUDA graphs (on CUDA devices only; on CPU they compile as the others)."""


def compile_info(compiled: CompileConfig | None, device: str) -> dict[str, Any] | None:
    """What is recorded about compiling in the loaded model's info."""
    if compiled is None:
        return None
    return {
        "mode": compiled.mode,
        "backend": compiled.backend,
        "dynamic": compiled.dynamic,
        "fullgraph": compiled.fullgraph,
        "cuda_graphs": compiled.mode in CUDA_GRAPH_MODES and device.startswith("cuda"),
        "scope": "decoding steps (transformers' static-cache compile path); the prefill runs eager",
    }


@dataclass(frozen=True)
class CompileSnapshot:
    """The compile ledger at one moment: total compile time and number of compile events so far."""

    compile_ns: int
    compiles: int


class _Ledger:
    """Process-wide totals of torch's compile events, fed by torch._dynamo's start/end callbacks.

    torch runs the callbacks around the outermost compile only (nested ones are folded in), so
    the wall time between a start and its end is counted once.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._started_ns: int | None = None
        self.compile_ns = 0
        self.compiles = 0

    def start(self, _args: Any) -> None:
        self._started_ns = time.perf_counter_ns()

    def end(self, _args: Any) -> None:
        ended = time.perf_counter_ns()
        with self._lock:
            if self._started_ns is not None:
                self.compile_ns += ended - self._started_ns
                self._started_ns = None
            self.compiles += 1


_ledger = _Ledger()
_ledger_lock = threading.Lock()


def _callback_handler() -> Any:
    try:
        from torch._dynamo.callback import callback_handler
    except ImportError as exc:
        import torch

        raise RuntimeError(
            f"torch {torch.__version__} has no torch._dynamo.callback, which vlmperf reads compile_s and "
            "recompiles from; use torch 2.6 or newer, or set target.compile off"
        ) from exc
    return callback_handler


def _registered() -> bool:
    return _ledger.start in _callback_handler().start_callbacks


def _register() -> None:
    """Feed the ledger from torch's callbacks (again after a torch._dynamo.reset(), which drops them)."""
    with _ledger_lock:
        if not _registered():
            handler = _callback_handler()
            handler.register_start_callback(_ledger.start)
            handler.register_end_callback(_ledger.end)


def fresh_compile_state() -> None:
    """Forget what this process compiled before, as a fresh process would.

    Called when a model that compiles is loaded, so that each such model pays and reports its own
    compile cost, and torch's limit of 8 compiled variants per function is not reached across a
    sweep's models (past it, torch runs the function uncompiled without an error). The runner
    holds one model at a time; a compiled model loaded earlier and still in use would compile
    again on its next call (which its CompileMonitor windows then show). Inductor's on-disk cache
    is kept: a graph compiled before on this machine compiles faster, as it would for a user.
    """
    import torch

    torch._dynamo.reset()
    _register()


class CompileMonitor:
    """What torch compiled between two moments.

    `compile_s`: wall time spent inside torch's compile events in the window, from the start
    callback to the end callback of each: dynamo tracing, AOT autograd and inductor code
    generation (C++ or Triton builds included), and CUDA graph recording under reduce-overhead.
    Time outside those events (first-use imports, the eager prefill) is not counted, so the
    first call's wall time minus a steady call's is a little larger (about 1 s of 15 s on the
    built-in tiny model). A warm on-disk inductor cache makes a later process compile faster;
    that is a real saving and shows as a smaller compile_s.

    `recompiles`: the number of compile events in the window (the first compilation counts as
    one). It must be 0 in timed runs; a nonzero value there means the timed run paid for
    compiling and its latency is not a steady-state figure.
    """

    def __init__(self) -> None:
        _register()

    def snapshot(self) -> CompileSnapshot:
        _register()
        with _ledger._lock:
            return CompileSnapshot(_ledger.compile_ns, _ledger.compiles)

    def since(self, snapshot: CompileSnapshot) -> dict[str, Any]:
        """{"compile_s": seconds spent compiling, "recompiles": compile events} since the snapshot.

        Raises RuntimeError when torch._dynamo.reset() ran inside the window: it drops the callbacks
        the counts come from, so compile events may be missing.
        """
        if not _registered():
            raise RuntimeError(
                "torch._dynamo.reset() ran between CompileMonitor.snapshot() and since(), so compile events in that "
                "window were not counted; take snapshots after any reset (vlmperf resets when a model is loaded)"
            )
        with _ledger._lock:
            compile_ns, compiles = _ledger.compile_ns, _ledger.compiles
        return {"compile_s": (compile_ns - snapshot.compile_ns) / 1e9, "recompiles": compiles - snapshot.compiles}
