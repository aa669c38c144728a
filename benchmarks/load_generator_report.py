"""Markdown report of the load-generator benchmark (`load_generator.py`): renders the finished report
(environment, the five goals' figures, overall verdict) as `load_generator.md`: a summary table with
one row per goal (goals 1-3 with their judged figure per output mode and repeat), the runs of
goals 1-3, then the detail tables of the rate steps, the closed-loop levels, the stream variants
(with the machine's floor), the startup runs and the SDK rounds, and an environment line.
"""

from __future__ import annotations

from typing import Any


def _f(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _yes(flag: bool | None) -> str:
    return "n/a" if flag is None else ("**pass**" if flag else "**FAIL**")


def _worst_rate(goal: dict[str, Any]) -> dict[str, Any] | None:
    return max(goal.get("steps", []), key=lambda s: s["lateness_ms"]["p99"] or 0, default=None)


def _lateness(goal: dict[str, Any]) -> str:
    worst = _worst_rate(goal)
    return "no step" if worst is None else f"{_f(worst['lateness_ms']['p99'], 3)} ({worst['rate']:g}/s)"


def _best(goal: dict[str, Any]) -> str:
    return _f((goal.get("best") or {}).get("achieved_rate"), 0)


def _varied(goal: dict[str, Any]) -> str:
    return _f(goal["variants"]["varied"]["lag_ms"]["p99"], 3) if "varied" in goal["variants"] else "–"


def _per_mode(goal: dict[str, Any], modes: list[str], figure: Any, unit: str) -> str:
    """Each mode's judged figure in every repeat, and how many repeats passed."""
    return "; ".join(
        f"{m}: "
        + ", ".join(figure(r[m]) for r in goal["repeats"])
        + f" {unit} ({goal[m]['passed']} of {goal[m]['repeats']} pass)"
        for m in modes
    )


def markdown(report: dict[str, Any]) -> str:
    env, g = report["environment"], report["goals"]
    modes = report["settings"]["modes"]
    rates, tp, st, su, sdk = g["1_rate"], g["2_throughput"], g["3_streams"], g["4_startup"], g["5_sdk"]
    criteria = report["criteria"]
    out = [
        "# Speed of the load generator (issues 4 and 14)",
        "",
        (
            f"`vlmperf run` itself (store writing, cells scored, progress drawn) against "
            f"`vlmperf.backends.endpoint.load.instant_server` in another process, on loopback. Goals 1-3 run "
            f"{report['settings']['repeats']} times in each mode, interleaved: output to a pipe, and inside a pseudo "
            f"terminal where the progress bar is drawn; a goal holds in a mode when most repeats pass. "
            f"{env['cpu']} ({env['cpu_count']} cores). Overall: **{'PASS' if report['pass'] else 'FAIL'}**."
        ),
        "",
        "| goal | criterion | measured, each repeat | result |",
        "|---|---|---|:---:|",
        (
            f"| 1. constant rate | sent rate within ±{criteria['rate_tolerance'] * 100:g}% "
            f"from 10 to {criteria['highest_rate']:,.0f}/s, "
            f"p99 lateness ≤ {criteria['lateness_p99_limit_ms']:g} ms, no error | worst p99 lateness: "
            f"{_per_mode(rates, modes, _lateness, 'ms')} | {_yes(rates['pass'])} |"
        ),
        (
            f"| 2. closed-loop throughput | ≥ {criteria['closed_loop_rate']:,.0f}/s from one process, no error "
            f"| best achieved: "
            f"{_per_mode(tp, modes, _best, '/s')} | {_yes(tp['pass'])} |"
        ),
        (
            f"| 3. streams | {report['settings']['streams']} concurrent streams, p99 chunk-timestamp lag ≤ "
            f"{criteria['stream_lag_p99_limit_ms']:g} ms | p99 lag: {_per_mode(st, modes, _varied, 'ms')}; "
            f"the machine's floor (Driver in the benchmark's process, nothing stored or drawn): "
            + ", ".join(_f(r["floor"]["lag_ms"]["p99"], 3) for r in st["repeats"])
            + f" ms | {_yes(st['pass'])} |"
        ),
        (
            f"| 4. startup | command to first request < 1 s | median {_f(su['median_s'], 3)} s, "
            f"max {_f(su['max_s'], 3)} s ({len(su['seconds'])} runs) | {_yes(su['pass'])} |"
        ),
    ]
    if sdk.get("skipped"):
        out.append(f"| 5. OpenAI SDK | comparison | skipped: {sdk['skipped']} | n/a |")
    else:
        out.append(
            f"| 5. OpenAI SDK {sdk['openai']} | comparison, same workload | "
            f"vlmperf/SDK e2e p50 {sdk['median_e2e_p50_ratio']:.3f}, "
            f"achieved req/s at {sdk['concurrency']} in flight {sdk['median_throughput_ratio']:.2f} "
            f"(medians of {len(sdk['rounds'])} rounds) | n/a |"
        )
    out += [
        "",
        "The runs of goals 1-3 (terminal output in bytes; redraws = frames of the progress bar seen in the terminal):",
        "",
        "| goal | repeat | mode | exit | wall s | output bytes | redraws |",
        "|---|---:|---|---:|---:|---:|---:|",
    ]
    for key, goal in (("1. rate", rates), ("2. closed loop", tp), ("3. streams", st)):
        for number, repeat in enumerate(goal["repeats"], 1):
            for m in modes:
                run = repeat[m]["run"]
                out.append(
                    f"| {key} | {number} | {m} | {run['returncode']} | {run['wall_s']:.1f} | "
                    f"{run['output_bytes']:,} | {run['redraws']} |"
                )
    out += [
        "",
        "Goal 1, open-loop steps (constant arrivals, no cap; lateness = start − scheduled time; loop lag = how late "
        "the driver's 10 ms probe timer fired):",
        "",
        "| repeat | mode | rate /s | requests | sent /s | achieved /s | lateness p50 / p99 / max ms "
        "| loop lag p50 / p99 / max ms | result |",
        "|---:|---|---:|---:|---:|---:|---|---|:---:|",
    ]
    for number, repeat in enumerate(rates["repeats"], 1):
        for m in modes:
            for s in repeat[m]["steps"]:
                late, lag = s["lateness_ms"], s["loop_lag_ms"] or {}
                out.append(
                    f"| {number} | {m} | {s['rate']:g} | {s['requests']} | {_f(s['sent_rate'])} "
                    f"| {_f(s['achieved_rate'])} "
                    f"| {_f(late['p50'], 3)} / {_f(late['p99'], 3)} / {_f(late['max'], 3)} "
                    f"| {_f(lag.get('p50'), 3)} / {_f(lag.get('p99'), 3)} / {_f(lag.get('max'), 3)} "
                    f"| {_yes(s['pass'])} |"
                )
    out += [
        "",
        (
            "Achieved = completed / (first start → last end); at n requests it is n/(n−1) of the sent rate by "
            "construction, so the ±1% test is on the sent rate."
        ),
        "",
        "Goal 2, closed loop (`concurrent` scenario):",
        "",
        "| repeat | mode | in flight | requests | errors | achieved /s | e2e p50 / p99 ms | loop lag p99 ms |",
        "|---:|---|---:|---:|---:|---:|---|---:|",
    ]
    for number, repeat in enumerate(tp["repeats"], 1):
        for m in modes:
            for c in repeat[m]["closed_loop"]:
                out.append(
                    f"| {number} | {m} | {c['concurrency']} | {c['requests']} | {c['errors']} | "
                    f"{_f(c['achieved_rate'], 0)} | {_f(c['e2e_ms']['p50'], 3)} / {_f(c['e2e_ms']['p99'], 3)} | "
                    f"{_f((c['loop_lag_ms'] or {}).get('p99'), 3)} |"
                )
    first = st["repeats"][0][modes[0]]
    out += [
        "",
        (
            f"Goal 3, chunk-timestamp lag (client arrival − server write, perf_counter_ns in both processes), "
            f"{first['chunks']} ± {first['chunk_spread']} chunks {first['interval_ms']:g} ms apart, "
            f"{first['duration_s']:g} s per variant, each cell warmed up with one request per stream:"
        ),
        "",
        "| repeat | mode | streams | in flight | requests | chunks | lag p50 / p99 / max ms | server gap p50 / p99 ms "
        "| loop lag p99 ms | result |",
        "|---:|---|---|---:|---:|---:|---|---|---:|:---:|",
    ]
    for number, repeat in enumerate(st["repeats"], 1):
        fl = repeat["floor"]
        out.append(
            f"| {number} | floor | lengths varied, Driver in this process, nothing stored or drawn | – | "
            f"{fl['requests']} | {fl['chunks']:,} | "
            f"{_f(fl['lag_ms']['p50'], 3)} / {_f(fl['lag_ms']['p99'], 3)} / {_f(fl['lag_ms']['max'], 3)} | – | "
            f"{_f(fl['loop_lag_ms']['p99'], 3)} | not judged |"
        )
        for m in modes:
            for v in repeat[m]["variants"].values():
                out.append(
                    f"| {number} | {m} | {v['label']} | {v['max_in_flight']} | {v['requests']} | {v['chunks']:,} | "
                    f"{_f(v['lag_ms']['p50'], 3)} / {_f(v['lag_ms']['p99'], 3)} / {_f(v['lag_ms']['max'], 3)} | "
                    f"{_f(v['server_interval_ms']['p50'], 2)} / {_f(v['server_interval_ms']['p99'], 2)} | "
                    f"{_f((v['loop_lag_ms'] or {}).get('p99'), 3)} | "
                    f"{_yes(v['pass']) if v['judged'] else 'not judged (' + ('within' if v['pass'] else 'over') + ')'}"
                    " |"
                )
    out += [
        "",
        f"Goal 4, `{su['command']}`: " + ", ".join(_f(t, 3) for t in su["seconds"]) + " s. Biggest imports of "
        "`vlmperf.cli` (cumulative ms): "
        + ", ".join(f"{r['module']} {r['cumulative_ms']:.0f}" for r in su["import_costs"][:6])
        + ".",
    ]
    if not sdk.get("skipped"):
        out += [
            "",
            (
                f"Goal 5, OpenAI SDK {sdk['openai']} (`AsyncOpenAI(...).chat.completions.create(stream=True)`) "
                f"against vlmperf's client, same server, order alternating per round; "
                f"floor = {sdk['floor_requests']} single-stream requests, "
                f"throughput = {sdk['concurrency']} in flight for {sdk['duration_s']:g} s:"
            ),
            "",
            "| round | order | e2e p50 ms vlmperf / SDK | ratio | achieved /s vlmperf / SDK | ratio |",
            "|---:|---|---|---:|---|---:|",
        ]
        for i, r in enumerate(sdk["rounds"], 1):
            out.append(
                f"| {i} | {r['order']} | {_f(r['vlmperf_floor']['e2e_ms']['p50'], 3)} "
                f"/ {_f(r['sdk_floor']['e2e_ms']['p50'], 3)} "
                f"| {r['e2e_p50_ratio']:.3f} | {_f(r['vlmperf_closed']['achieved_rate'], 0)} "
                f"/ {_f(r['sdk_closed']['achieved_rate'], 0)} "
                f"| {r['throughput_ratio']:.2f} |"
            )
        out.append(f"| median | | | {sdk['median_e2e_p50_ratio']:.3f} | | {sdk['median_throughput_ratio']:.2f} |")
    git = env.get("git") or {}
    out += [
        "",
        (
            f"Environment: {env['date']}; `{env['command']}`; Python {env['python']}, aiohttp {env['aiohttp']}, "
            f"openai {env['openai']}; {env['cpu']} ({env['cpu_count']} cores); "
            f"load average {env.get('load_average_start')} → {env.get('load_average_end')}; "
            f"commit {git.get('commit', '?')[:12]}{' (dirty)' if git.get('dirty') else ''}. "
            f"Took {report['wall_s']:.0f} s."
        ),
        "",
    ]
    return "\n".join(out)
