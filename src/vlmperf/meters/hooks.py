"""Forward hooks installed for one block and removed after it, also when the block raises.

The stage timer, the module profile and the trace's module ranges all hook a model for one
generate call; this is their common lifetime: `install()` adds the hooks, leaving the `with`
block (or a failure while installing) removes every one of them.
"""

from __future__ import annotations

from typing import Any

import torch


def eager(hook: Any) -> Any:
    """A hook torch.compile runs as is instead of tracing it.

    generate compiles `model.__call__` for the decoding steps when asked (transformers' static-cache
    path), and that call runs the model's hooks. Traced, a hook that reads the host clock breaks
    the graph, and its bookkeeping (a growing list) becomes a guard that recompiles every step
    until torch's recompile limit. Left out of tracing, it adds no graph and no recompilation
    (torch 2.13, eager and inductor backends: tests/test_stages.py checks the graph count).
    """
    return torch.compiler.disable(hook)


def _as_is(hook: Any) -> Any:
    return hook


class HookSet:
    """Subclasses implement `install()`, adding hooks with `self._add(module, before, after)`.

    `compiled`: whether the hooked model may run under torch.compile; then every hook runs eagerly
    (see `eager`). A timed call on a model that is not compiled passes False: the wrapper is not
    free (it switches dynamo's frame evaluation off and on around each call: about 3 µs a hook
    call, 100 µs of a 20 ms generate on the tiny model, measured interleaved on this CPU).
    """

    def __init__(self, compiled: bool = True) -> None:
        self._handles: list[Any] = []
        self._wrap = eager if compiled else _as_is

    def install(self) -> None:
        raise NotImplementedError

    def _add(self, module: torch.nn.Module, before: Any, after: Any) -> None:
        self._handles.append(module.register_forward_pre_hook(self._wrap(before)))
        self._handles.append(module.register_forward_hook(self._wrap(after)))

    def __enter__(self) -> Any:
        try:
            self.install()
        except BaseException:
            self.remove()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()

    def remove(self) -> None:
        """Remove every hook this set installed (safe to call twice)."""
        while self._handles:
            self._handles.pop().remove()
