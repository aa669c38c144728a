"""The tables and markdown of `harness_overhead.py`'s results (its `run()` report), apart from measuring."""

from __future__ import annotations

from typing import Any

THRESHOLD = 1.02
"""The criterion: median(vlmperf-reported / bare) at most this at every batch size."""


def _ratio(s: dict[str, float]) -> str:
    return f"{s['median']:.4f} [{s['ci95_low']:.4f}, {s['ci95_high']:.4f}]"


def table(report: dict[str, Any]) -> str:
    lines = [
        "| batch | pairs | bare ms | vlmperf reported ms | vlmperf outside ms | reported/bare [95% CI] "
        "| outside/bare [95% CI] | pass (≤ 1.02) |",
        "|---:|---:|---:|---:|---:|---|---|:---:|",
    ]
    for batch_size, e in report["results"].items():
        m = e["median_ms"]
        lines.append(
            f"| {batch_size} | {e['pairs']} | {m['bare']:.2f} | {m['vlmperf_reported']:.2f} "
            f"| {m['vlmperf_outside']:.2f} "
            f"| {_ratio(e['ratio_reported_over_bare'])} | {_ratio(e['ratio_outside_over_bare'])} "
            f"| {'yes' if e['pass'] else 'NO'} |"
        )
    extra = report["settings"]["conditions"][2:]
    if extra:
        lines += [
            "",
            "| batch | " + " | ".join(f"{n} ms | {n}/bare [95% CI]" for n in extra) + " |",
            "|---:|" + "---:|---|" * len(extra),
        ]
        for batch_size, e in report["results"].items():
            cells = [f"{e['median_ms'][n]:.2f} | {_ratio(e[f'ratio_{n}_over_bare'])}" for n in extra]
            lines.append(f"| {batch_size} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def below_bare(report: dict[str, Any]) -> list[str]:
    """Batch sizes whose reported latency is more than the threshold's margin *below* bare (outside
    the two-sided band on the low side; a ratio above it fails the criterion instead)."""
    return [
        b
        for b, e in report["results"].items()
        if not e["within_two_sided"] and e["ratio_reported_over_bare"]["median"] < 1
    ]


def markdown(report: dict[str, Any]) -> str:
    env = report["environment"]
    s = report["settings"]
    git = env.get("git") or {}
    out = [
        "# Harness overhead: vlmperf against a bare `model.generate` loop",
        "",
        f"Criterion: {report['criterion']}. **{'PASS' if report['pass'] else 'FAIL'}.**",
        *(
            [
                "",
                "Warning: at batch size(s) "
                + ", ".join(below_bare(report))
                + f" the reported latency is more than {THRESHOLD - 1:.0%} *below* the bare loop's "
                "(the criterion is one-sided).",
            ]
            if below_bare(report)
            else []
        ),
        "",
        f"Model: {s['model']} ({s['model_info'].get('parameters')} parameters), greedy, "
        f"{s['generation']['max_new_tokens']} new tokens (fixed), on {env['device']}. "
        f"{s['pairs_per_batch_size']} pairs per batch size after {s['warmup_blocks_per_batch_size']} warm-up blocks, "
        "conditions in random order per pair (seeded). Times are medians; ratios are medians of the paired "
        "ratios with a bootstrap 95% interval. *reported* is the `latency_s` vlmperf records; *outside* is the "
        "wall time around the whole `timed_generate` call (stage hooks, marker, marks, output decoding included).",
        "",
        table(report),
        "",
        "| batch | reported − bare, ms [95% CI] | outside − reported, ms [95% CI] |",
        "|---:|---|---|",
    ]
    for batch_size, e in report["results"].items():
        d = e["diff_ms"]
        out.append(
            f"| {batch_size} | {d['reported_minus_bare']['median']:+.3f} [{d['reported_minus_bare']['ci95_low']:+.3f}, "
            f"{d['reported_minus_bare']['ci95_high']:+.3f}] | {d['outside_minus_reported']['median']:+.3f} "
            f"[{d['outside_minus_reported']['ci95_low']:+.3f}, {d['outside_minus_reported']['ci95_high']:+.3f}] |"
        )
    if any("pieces" in e for e in report["results"].values()):
        out += [
            "",
            "Per-piece ablation: each piece added to the bare loop on its own, in random order with the others "
            "(paired ratio and difference against bare, medians with bootstrap 95% intervals):",
            "",
            "| batch | piece | what | ratio over bare [95% CI] | minus bare, ms [95% CI] |",
            "|---:|---|---|---|---|",
        ]
        for batch_size, e in report["results"].items():
            for name, piece in e.get("pieces", {}).items():
                d = piece["minus_bare_ms"]
                out.append(
                    f"| {batch_size} | {name} | {piece['what']} | {_ratio(piece['ratio_over_bare'])} "
                    f"| {d['median']:+.3f} [{d['ci95_low']:+.3f}, {d['ci95_high']:+.3f}] |"
                )
    if any("components_us" in e for e in report["results"].values()):
        out += [
            "",
            "Host cost of the harness's pieces timed on their own, outside generate (median µs per call):",
            "",
            "| batch | " + " | ".join(next(iter(report["results"].values()))["components_us"]) + " |",
            "|---:|" + "---:|" * len(next(iter(report["results"].values()))["components_us"]),
        ]
        for batch_size, e in report["results"].items():
            out.append(f"| {batch_size} | " + " | ".join(f"{v:.1f}" for v in e["components_us"].values()) + " |")
    out += [
        "",
        f"Environment: {env['date']}; `{env['command']}`; torch {env['torch']}, transformers {env['transformers']}, "
        f"Python {env['python']}; CPU {env['cpu']} ({env['cpu_count']} cores), torch threads {env['torch_threads']}"
        + (f"; GPU {env['gpu']}" if env.get("gpu") else "")
        + f"; load average {env.get('load_average_start')} → {env.get('load_average_end')}; "
        f"commit {git.get('commit', '?')[:12]}{' (dirty)' if git.get('dirty') else ''}. "
        f"Timed part took {report['timed_wall_s']:.0f} s.",
        "",
    ]
    return "\n".join(out)
