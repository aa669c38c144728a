"""What a local cell's figures should be read with: settings that make them mean less than they seem."""

from __future__ import annotations

from vlmperf.backends.local.loaded import LoadedModel
from vlmperf.backends.local.target import LocalTarget
from vlmperf.config.spec import CellSpec


def cell_warnings(loaded: LoadedModel, spec: CellSpec, target: LocalTarget, over_budget: dict[str, int]) -> list[str]:
    """One sentence per reason the cell's figures need care, each saying what to change."""
    warnings = []
    if loaded.info.get("weights", "").startswith("random") and spec.generation.mode == "natural":
        warnings.append(
            "random weights with generation.mode natural: output lengths (and so latency) depend on when a "
            "random model happens to emit EOS; use generation.mode fixed for speed work"
        )
    if over_budget:
        warnings.append(
            f"{len(over_budget)} sample(s) left out: their prompt does not fit workload.max_input_len "
            f"{spec.workload.max_input_len} without cutting choices or instructions "
            "(over_budget: the budget each needs)"
        )
    if target.compile != "off" and spec.measure.warmup_runs == 0:
        warnings.append(
            "compile with measure.warmup_runs 0: compiling happened inside the first timed run (see recompiles); "
            "set warmup_runs to 1 or more so compile_s is paid in warm-up"
        )
    return warnings
