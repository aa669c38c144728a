"""The steps of `benchmarks/gpu_check.py` that run vlmperf itself and read their figures from its store.

`vlmperf run` over the optimisation cells, `vlmperf profile` across batch sizes, and a `vlmperf run`
with NVML energy while nvidia-smi samples power. Each reads what it reports from the store the
command wrote (`vlmperf.api.report`), never from the command's terminal output; a command that
stored nothing fails its step with the command's last words. How a step runs its children is in
`gpu_check_steps.py`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gpu_check_energy as energy
from gpu_check_steps import Call, Context, call_result, last_line, target, write_config

# ---------------------------------------------------------------------------------------------- optimisation cells


def _short_vqa(s: dict[str, Any], *, flops: bool) -> dict[str, Any]:
    """The workload, generation and measure sections of the check's runs: the built-in VQA photos, fixed-length
    answers, the size's warm-up and run counts, no energy (its own step measures it)."""
    return {
        "workload": {"task": "vqa", "source": "builtin"},
        "generation": {"max_new_tokens": s["max_new_tokens"], "mode": "fixed"},
        "measure": {
            "warmup_runs": s["warmup"],
            "min_runs": s["runs"],
            "min_duration_s": 0,
            "every_sample": False,
            "energy": "none",
            "flops": flops,
        },
    }


def cells_config(name: str, s: dict[str, Any], device: str) -> dict[str, Any]:
    """A vlmperf run config: the base target, and one sweep cell per optimisation, each compared with
    the base cell of its batch size (agreement_vs_reference)."""
    base = target(s["model"], device)
    return {
        "name": name,
        "target": base,
        **_short_vqa(s, flops=s.get("flops", True)),  # FLOPs: limit_ratio and mfu need them
        "reference": {
            "target.attn_implementation": "sdpa",
            "target.dtype": base["dtype"],
            "target.compile": "off",
            "target.quantization": "none",
            "target.speculative": "off",
        },
        "sweep": {"cells": s["cells"]},
    }


def cell_label(overrides: dict[str, Any]) -> str:
    """`b8 attn_implementation=eager`, `b1 base`."""
    rest = [f"{k.split('.')[-1]}={v}" for k, v in overrides.items() if k != "scenario.batch_size"]
    return f"b{overrides.get('scenario.batch_size', 1)} " + (", ".join(rest) or "base")


def step_cells(ctx: Context, s: dict[str, Any], limit_s: float) -> dict[str, Any]:
    """`vlmperf run` over the optimisation cells; each cell's status, latency and error from the store."""
    name = s["label"]
    store = ctx.work / name
    config = write_config(ctx.work / f"{name}.yaml", cells_config(f"gpu-check-{name}", s, ctx.device))
    call = ctx.call(name, ["-m", "vlmperf", "run", str(config), "--out", str(store)], limit_s)
    result = call_result(call, ok_codes=(0, 1))  # 1: every cell failed, which the table shows
    try:
        document = stored_document(store)
    except Exception as exc:  # noqa: BLE001 - a store that was never written: the call's output says why
        return no_store(result, call, exc)
    cells = cell_rows(document, s["cells"])
    return {**result, "config": str(config), "run_id": document["run"]["id"], "cells": cells}


def no_store(result: dict[str, Any], call: Call, exc: Exception) -> dict[str, Any]:
    """A vlmperf command that stored no run: failed (or timed out) with the command's last words."""
    status = "failed" if result["status"] == "ok" else result["status"]
    error = result.get("error") or last_line(call.tail()) or f"no stored run: {type(exc).__name__}: {exc}"
    return {**result, "status": status, "error": error, "log_tail": call.tail()}


def stored_document(store: Path) -> dict[str, Any]:
    import vlmperf.api as vp

    return vp.report("latest", out=store)


OPTIONAL_METRICS = ("compile_s", "recompiles", "acceptance_rate", "limit_ratio", "mbu", "mfu")
"""Shown when a cell's summary has them (some are newer than this script: none is required)."""


def cell_rows(document: dict[str, Any], wanted: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per wanted cell, in the plan's order: measured, failed, or never reached (the run ended first)."""
    stored = document["cells"]
    rows = []
    for overrides in wanted:
        cell = next(
            (
                c
                for c in stored
                if all(c["config"].get(k) == v for k, v in overrides.items()) and _most_specific(c, overrides, wanted)
            ),
            None,
        )
        row: dict[str, Any] = {"cell": cell_label(overrides), "overrides": overrides}
        if cell is None:
            rows.append({**row, "status": "not measured", "error": "the run ended before this cell"})
            continue
        metrics = cell["metrics"]
        row.update({"id": cell["id"], "status": cell["status"], "error": _error_text(cell.get("error"))})
        row["latency_ms_p50"] = _p50(metrics, "latency_s", 1e3)
        row["ttft_ms_p50"] = _p50(metrics, "ttft_s", 1e3)
        row["output_tokens_per_s_p50"] = _p50(metrics, "throughput_output_tokens_per_s")
        row["peak_memory_mib"] = _p50(metrics, "peak_memory_bytes", 2**-20, stat="max")
        agreement = metrics.get("agreement_vs_reference") or {}
        row["agreement_vs_reference"] = agreement.get("value")
        row["reference_cell"] = agreement.get("reference_cell")
        row.update({name: _p50(metrics, name) for name in OPTIONAL_METRICS if name in metrics})
        rows.append(row)
    by_id = {r.get("id"): r for r in rows}
    for row in rows:  # latency against the base cell of the same batch size (separate loads: not interleaved)
        ref = by_id.get(row.get("reference_cell"))
        if ref and row.get("latency_ms_p50") and ref.get("latency_ms_p50") and ref is not row:
            row["latency_over_base"] = row["latency_ms_p50"] / ref["latency_ms_p50"]
    return rows


def _most_specific(cell: dict[str, Any], overrides: dict[str, Any], wanted: list[dict[str, Any]]) -> bool:
    """No other wanted cell with more keys also matches this stored cell (b8 base matches every b8 cell)."""
    return not any(
        len(other) > len(overrides) and all(cell["config"].get(k) == v for k, v in other.items()) for other in wanted
    )


def _p50(metrics: dict[str, Any], name: str, scale: float = 1.0, stat: str = "p50") -> float | None:
    value = metrics.get(name)
    if isinstance(value, dict):
        value = value.get(stat, value.get("value"))
    return value * scale if isinstance(value, (int, float)) and not isinstance(value, bool) else value


def _error_text(error: Any) -> str | None:
    if not error:
        return None
    if isinstance(error, dict):
        return f"{error.get('type', 'Error')}: {error.get('message', '')}"[:400]
    return str(error)[:400]


# ---------------------------------------------------------------------------------------------- profile


def step_profile(ctx: Context, s: dict[str, Any], limit_s: float) -> dict[str, Any]:
    """`vlmperf profile` across batch sizes: the top layer classes by self time, one column pair per batch size."""
    store = ctx.work / "profile"
    config = write_config(
        ctx.work / "profile.yaml",
        {
            "name": "gpu-check-profile",
            "target": target(s["model"], ctx.device),
            **_short_vqa(s, flops=False),
            "sweep": {"grid": {"scenario.batch_size": s["batch_sizes"]}},
        },
    )
    call = ctx.call("profile", ["-m", "vlmperf", "profile", str(config), "--out", str(store), "--top", "8"], limit_s)
    result = call_result(call)
    try:
        document = stored_document(store)
    except Exception as exc:  # noqa: BLE001 - a store that was never written: the call's output says why
        return no_store(result, call, exc)
    from vlmperf.report.module_profile import run_profiles, top_module_rows

    profiles = run_profiles(document)
    traces = {c["id"]: ((c.get("info") or {}).get("profile") or {}).get("trace") for c in document["cells"]}
    missing = [b for b in s["batch_sizes"] if not any(label.endswith(f"={b}") for label in profiles)]
    rows = top_module_rows(profiles, top=8) if profiles else []
    status = result["status"] if result["status"] != "ok" or not missing else "failed"
    return {
        **result,
        "status": status,
        "run_id": document["run"]["id"],
        **(
            {"error": f"no profile at batch size(s) {', '.join(map(str, missing))}"}
            if missing and status == "failed"
            else {}
        ),
        "cells": [
            {
                "id": c["id"],
                "batch_size": c["config"].get("scenario.batch_size"),
                "status": c["status"],
                "error": _error_text(c.get("error")),
                "latency_ms_p50": _p50(c["metrics"], "latency_s", 1e3),
                "trace_bytes": (traces.get(c["id"]) or {}).get("bytes"),
            }
            for c in document["cells"]
        ],
        "totals_ms": {label: p["total_s"] * 1e3 for label, p in profiles.items()},
        "top_modules": rows,
    }


# ---------------------------------------------------------------------------------------------- energy


def step_energy(ctx: Context, s: dict[str, Any], limit_s: float) -> dict[str, Any]:
    """A vlmperf run with NVML energy while nvidia-smi samples power; each window's joules both ways."""
    smi = ctx.env_facts.get("nvidia_smi") or {}
    gpu = smi.get("uuid") or ctx.env_facts.get("gpu_uuid") or (ctx.device.split(":")[1] if ":" in ctx.device else "0")
    field_name = energy.power_field(gpu)
    if field_name is None:
        return {"status": "failed", "error": f"nvidia-smi gives no power reading for GPU {gpu}"}
    store, samples_path = ctx.work / "energy", ctx.work / "energy_power.csv"
    samples_path.unlink(missing_ok=True)
    config = write_config(
        ctx.work / "energy.yaml",
        {
            "name": "gpu-check-energy",
            "target": target(s["model"], ctx.device),
            "workload": {"task": "vqa", "source": "builtin"},
            "scenario": {"batch_size": s["batch_size"]},
            "generation": {"max_new_tokens": s["max_new_tokens"], "mode": "fixed"},
            "measure": {
                "warmup_runs": s["warmup"],
                "min_runs": s["runs"],
                "min_duration_s": s["min_duration_s"],
                "every_sample": False,
                "energy": "nvml",
                "min_energy_window_s": s["window_s"],
                "flops": False,
            },
        },
    )
    with energy.PowerSampler(samples_path, gpu, field_name):
        call = ctx.call("energy", ["-m", "vlmperf", "run", str(config), "--out", str(store)], limit_s)
    result = call_result(call)
    if result["status"] != "ok":
        return result
    from vlmperf.store.sqlite import Store

    with Store.open(store, create=False) as opened:
        records = opened.records(opened.run("latest").id)
    compared = energy.compare(energy.energy_windows(records), energy.read_samples(samples_path))
    if not compared["windows_compared"]:
        return {
            **result,
            "status": "failed",
            "power_field": field_name,
            **compared,
            "error": f"no window could be compared ({compared['samples']} power samples, "
            f"{len(compared['windows'])} windows with NVML readings)",
        }
    return {**result, "power_field": field_name, **compared}
