"""gpu_check.md: the results of `benchmarks/gpu_check.py` as short tables, one section per step.

Only formatting: every figure is taken from the results dict that gpu_check.json holds.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def _num(value: Any, fmt: str = ".2f") -> str:
    return "-" if value is None else format(value, fmt) if isinstance(value, (int, float)) else str(value)


def _ratio(s: dict[str, float] | None) -> str:
    return "-" if not s else f"{s['median']:.4f} [{s['ci95_low']:.4f}, {s['ci95_high']:.4f}]"


def _cell(text: Any) -> str:
    """A table cell: one line, pipes escaped."""
    return str(text if text is not None else "-").replace("|", "\\|").replace("\n", " ")


# ---------------------------------------------------------------------------------------------- headlines


def headline(name: str, step: dict[str, Any]) -> str:
    """One line per step for the summary table."""
    if step["status"] == "skipped":
        return f"skipped: {step['reason']}"
    if step["status"] in ("failed", "timeout") and not _has_figures(step):
        return step.get("error", step["status"])
    summary = HEADLINES.get(name.split("_")[0], lambda s: "")(step)
    return summary + (f"; {step['error']}" if step.get("error") else "")


def _has_figures(step: dict[str, Any]) -> bool:
    return any(k in step for k in ("figures", "cells", "gpu_only", "top_modules", "windows", "facts"))


def _environment_line(step: dict[str, Any]) -> str:
    f = step.get("facts") or {}
    packages = f.get("packages") or {}
    return (
        f"{f.get('gpu') or 'no GPU'}, driver {_num(f.get('driver'))}, CUDA {_num(f.get('cuda'))}, "
        f"torch {_num(packages.get('torch'))}, transformers {_num(packages.get('transformers'))}"
    )


def _overhead_line(step: dict[str, Any]) -> str:
    ratios = ", ".join(f"b{b} {f['ratio_reported_over_bare']['median']:.3f}" for b, f in step["figures"].items())
    return f"reported/bare {ratios}; goal ≤ 1.02 {'met' if step['goal_met'] else 'MISSED'}"


def _tests_line(step: dict[str, Any]) -> str:
    passed = sum(1 for o in step["gpu_only"].values() if o == "passed")
    c = step["counts"]
    return (
        f"{passed} of {len(step['gpu_only'])} GPU-only tests passed; all: {c['passed']} passed, "
        f"{c['failed']} failed, {c['skipped']} skipped"
    )


def _cells_line(step: dict[str, Any]) -> str:
    cells = step["cells"]
    ok = [c for c in cells if c["status"] == "ok"]
    bad = [c["cell"] for c in cells if c["status"] != "ok"]
    return f"{len(ok)} of {len(cells)} cells ok" + (f"; not ok: {', '.join(bad)}" if bad else "")


def _profile_line(step: dict[str, Any]) -> str:
    totals = step.get("totals_ms") or {}
    return "profiled: " + (", ".join(f"{label} ({ms:.1f} ms)" for label, ms in totals.items()) or "nothing")


def _energy_line(step: dict[str, Any]) -> str:
    ratio = step.get("ratio_nvml_over_smi")
    within = step.get("within_10pct")
    return (
        f"NVML / nvidia-smi = {_num(ratio, '.3f')} over {step.get('windows_compared', 0)} windows "
        f"({'within' if within else 'NOT within'} 10%)"
        if ratio is not None
        else "no window compared"
    )


HEADLINES: dict[str, Callable[[dict[str, Any]], str]] = {
    "environment": _environment_line,
    "overhead": _overhead_line,
    "gpu": _tests_line,
    "opt": _cells_line,
    "profile": _profile_line,
    "energy": _energy_line,
}
"""Keyed by the step name's first word."""


# ---------------------------------------------------------------------------------------------- sections


def _overhead_section(step: dict[str, Any]) -> list[str]:
    lines = [
        f"Model: {step['model']}. Criterion: {step['criterion']}. Files: "
        + ", ".join(f"`{f}`" for f in step["files"])
        + ".",
        "",
        "| batch | pairs | bare ms | reported ms | reported/bare [95% CI] | outside/bare [95% CI] | ≤ 1.02 |",
        "|---:|---:|---:|---:|---|---|:---:|",
    ]
    for b, f in step["figures"].items():
        lines.append(
            f"| {b} | {f['pairs']} | {f['bare_ms']:.2f} | {f['reported_ms']:.2f} "
            f"| {_ratio(f['ratio_reported_over_bare'])} | {_ratio(f['ratio_outside_over_bare'])} "
            f"| {'yes' if f['pass'] else 'NO'} |"
        )
    pieces = [name for f in step["figures"].values() for name in f["pieces_ratio_over_bare"]]
    names = list(dict.fromkeys(pieces))
    if names:
        lines += [
            "",
            "Per-piece ablation, each piece on its own against bare (paired ratio [95% CI]):",
            "",
            "| batch | " + " | ".join(names) + " |",
            "|---:|" + "---|" * len(names),
        ]
        for b, f in step["figures"].items():
            lines.append(f"| {b} | " + " | ".join(_ratio(f["pieces_ratio_over_bare"].get(n)) for n in names) + " |")
    return lines


def _tests_section(step: dict[str, Any]) -> list[str]:
    return ["| GPU-only test | outcome |", "|---|---|"] + [f"| `{t}` | {o} |" for t, o in step["gpu_only"].items()]


def _cells_section(step: dict[str, Any]) -> list[str]:
    extras = [
        n
        for n in ("compile_s", "recompiles", "acceptance_rate", "limit_ratio", "mbu", "mfu")
        if any(n in c for c in step["cells"])
    ]
    lines = [
        (
            "Latency ratios are against the base cell of the same batch size, a separately loaded model "
            "(not interleaved: indicative only). Agreement: share of outputs equal to the base cell's."
        ),
        "",
        "| cell | status | latency ms p50 | × base | ttft ms p50 | out tok/s | peak MiB | agreement | "
        + "".join(f"{n} | " for n in extras)
        + "error |",
        "|---|---|---:|---:|---:|---:|---:|---:|" + "---:|" * len(extras) + "---|",
    ]
    for c in step["cells"]:
        lines.append(
            f"| {c['cell']} | {c['status']} | {_num(c.get('latency_ms_p50'))} "
            f"| {_num(c.get('latency_over_base'), '.3f')} "
            f"| {_num(c.get('ttft_ms_p50'))} | {_num(c.get('output_tokens_per_s_p50'), '.0f')} "
            f"| {_num(c.get('peak_memory_mib'), '.0f')} | {_num(c.get('agreement_vs_reference'))} | "
            + "".join(f"{_num(c.get(n), '.3g')} | " for n in extras)
            + f"{_cell(c.get('error'))} |"
        )
    return lines


def _profile_section(step: dict[str, Any]) -> list[str]:
    rows = step.get("top_modules") or []
    if not rows:
        return ["No profile was stored."]
    labels = list(rows[0]["self_ms"])
    lines = [
        "Top layer classes by self time in the profiling pass (self ms, share of the call):",
        "",
        "| class | instances | " + " | ".join(labels) + " |",
        "|---|---:|" + "---:|" * len(labels),
    ]
    for r in rows:
        cells = [f"{_num(r['self_ms'][label], '.3f')} ({_num(r['share'][label], '.1%')})" for label in labels]
        lines.append(f"| {_cell(r['class'])} | {r['instances']} | " + " | ".join(cells) + " |")
    return lines


def _energy_section(step: dict[str, Any]) -> list[str]:
    lines = [
        (
            f"nvidia-smi field `{step.get('power_field')}`, {step.get('samples')} samples, median period "
            f"{_num(step.get('sample_period_s'), '.3f')} s."
        ),
        "",
        "| window | runs | s | NVML J | nvidia-smi J | NVML / smi | within 10% |",
        "|---:|---:|---:|---:|---:|---:|:---:|",
    ]
    for w in step.get("windows", []):
        lines.append(
            f"| {w['window']} | {w['runs']} | {w['duration_s']:.2f} | {_num(w['nvml_j'], '.1f')} "
            f"| {_num(w['smi_j'], '.1f')} | {_num(w['ratio_nvml_over_smi'], '.3f')} "
            f"| {'-' if w['within_10pct'] is None else 'yes' if w['within_10pct'] else 'no'} |"
        )
    lines.append(
        f"| all | | | {_num(step.get('nvml_total_j'), '.1f')} | {_num(step.get('smi_total_j'), '.1f')} "
        f"| {_num(step.get('ratio_nvml_over_smi'), '.3f')} | {'yes' if step.get('within_10pct') else 'no'} |"
    )
    return lines


SECTIONS: dict[str, tuple[str, Callable[[dict[str, Any]], list[str]]]] = {
    "overhead": ("figures", _overhead_section),
    "gpu": ("gpu_only", _tests_section),
    "opt": ("cells", _cells_section),
    "profile": ("top_modules", _profile_section),
    "energy": ("windows", _energy_section),
}
"""Keyed by the step name's first word: the key the section needs, and its renderer."""


def section(name: str, step: dict[str, Any]) -> list[str]:
    needs, render = SECTIONS.get(name.split("_")[0], ("", None))
    lines = [f"## {step.get('title', name)} (`{name}`): {step['status']}", ""]
    if step["status"] == "skipped":
        return lines + [f"Skipped: {step['reason']}.", ""]
    if render is not None and needs in step:
        lines += render(step) + [""]
    if step.get("error"):
        lines += [f"Error: {_cell(step['error'])}", ""]
    if step["status"] in ("failed", "timeout") and (step.get("log_tail") or step.get("traceback")):
        lines += ["```", (step.get("traceback") or step.get("log_tail", ""))[-1200:].strip(), "```", ""]
    if step.get("command"):
        lines += [f"Command: `{step['command']}` ({step.get('duration_s')} s of {step.get('limit_s')} s).", ""]
    return lines


def markdown(report: dict[str, Any]) -> str:
    env = report.get("environment") or {}
    versions = env.get("versions") or {}
    git = report.get("git") or {}
    lines = [
        "# vlmperf GPU check",
        "",
        f"Mode **{report['mode']}** on {report['device']}, {report['started']} → {report.get('finished')}, "
        f"{report.get('wall_s')} s of a {report['budget_s']:.0f} s budget"
        + ("" if report.get("complete") else " (**partial**: the check had not finished when this was written)")
        + ".",
        "",
        f"GPU {_num(env.get('gpu'))} ({_num(env.get('gpu_memory_gib'))} GiB, "
        f"compute {_num(env.get('compute_capability'))}, power limit {_num(env.get('power_limit_w'))} W), "
        f"driver {_num(env.get('driver'))}, CUDA {_num(env.get('cuda'))}; "
        f"CPU {_num(env.get('cpu'))}; Python {_num(env.get('python'))}; "
        + ", ".join(f"{name} {v}" for name, v in versions.items() if v)
        + f"; not installed: {', '.join(n for n, v in versions.items() if not v) or 'none'}; "
        f"commit {(git.get('commit') or '?')[:12]}{' (dirty)' if git.get('dirty') else ''}.",
        "",
        f"Command: `{report['command']}`.",
        "",
        "| step | status | s (limit) | result |",
        "|---|---|---:|---|",
    ]
    for name, step in report["steps"].items():
        took = f"{step['duration_s']} ({step['limit_s']})" if "duration_s" in step else "-"
        lines.append(f"| `{name}` | {step['status']} | {took} | {_cell(headline(name, step))} |")
    lines.append("")
    for name, step in report["steps"].items():
        if name != "environment":
            lines += section(name, step)
    return "\n".join(lines) + "\n"
