"""What an optimisation costs and does, per timed run: recompilations, speculative acceptance.

`compile_s` is a figure of the cell as a whole, in its summary as `{"value": s}`: the wall time
between torch._dynamo's compile-start and compile-end callbacks during the cell's warm-up (tracing
and code generation, C++ / Triton builds and CUDA-graph recording included). Cells that share a
loaded model share its compiled code: transformers' static-cache path compiles the decode step once
for batch size 1 and once more for all larger batch sizes (dynamic shapes), so only the first cell
of each of the two pays, and a model's whole compile cost is the sum over its cells.
"""

from __future__ import annotations

from vlmperf.metrics.definitions import Record, cell_figure, metric

cell_figure(
    "compile_s",
    "s",
    "torch.compile: wall time between torch._dynamo's compile-start and compile-end callbacks during the cell's "
    "warm-up (tracing, code generation, kernel builds, CUDA-graph recording); cells sharing a loaded model share "
    "its compiled code, so only the first cell of each compiled shape family pays.",
)


@metric("recompiles", "count")
def _recompiles(record: Record) -> list[float | None]:
    """torch.compile compilations that happened during one timed generate call (0 when every shape was
    already compiled in warm-up; null when compile is off)."""
    return [record.get("recompiles")]


@metric("acceptance_rate", "ratio")
def _acceptance(record: Record) -> list[float | None]:
    """Speculative decoding: draft tokens the model accepted / draft tokens proposed, over one generate
    call, as transformers' assisted generation counts its matches (after trimming at EOS or the length
    limit); null without speculative decoding, or when nothing was drafted."""
    spec = record.get("speculative")
    if not spec or not spec["drafted_tokens"]:
        return [None]
    return [spec["accepted_tokens"] / spec["drafted_tokens"]]


@metric("mean_accepted_tokens", "tokens", better="higher")
def _mean_accepted(record: Record) -> list[float | None]:
    """Speculative decoding: accepted draft tokens per verification step of one generate call (the
    token the model adds itself at each step is not counted)."""
    spec = record.get("speculative")
    if not spec or not spec["verification_steps"]:
        return [None]
    return [spec["accepted_tokens"] / spec["verification_steps"]]
