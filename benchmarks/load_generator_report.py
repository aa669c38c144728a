"""Markdown report of the load-generator benchmark (`load_generator.py`): renders the finished report
(environment, the five goals' figures, overall verdict) as `load_generator.md`: a summary table with
one row per goal, then the detail tables of the rate steps, the closed-loop levels, the stream
variants, the startup runs and the SDK rounds, and an environment line.
"""

from __future__ import annotations

from typing import Any

from load_generator_common import STREAM_LAG_P99_LIMIT_MS, SUSTAINED_RATE


def _f(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _yes(flag: bool | None) -> str:
    return "n/a" if flag is None else ("**pass**" if flag else "**FAIL**")


def markdown(report: dict[str, Any]) -> str:
    env, g = report["environment"], report["goals"]
    rates, tp, st, su, sdk = g["1_rate"], g["2_throughput"], g["3_streams"], g["4_startup"], g["5_sdk"]
    worst_step = max(rates["steps"], key=lambda s: s["lateness_ms"]["p99"] or 0)
    judged = st["variants"]["varied"]
    out = [
        "# Speed of the load generator (issue 4)",
        "",
        (
            f"vlmperf's endpoint client (Driver + aiohttp) in one process against `vlmperf.load.instant_server` in another, "
            f"on loopback; {env['cpu']} ({env['cpu_count']} cores). Overall: **{'PASS' if report['pass'] else 'FAIL'}**."
        ),
        "",
        "| goal | criterion | measured | result |",
        "|---|---|---|:---:|",
        (
            f"| 1. constant rate | sent rate within ±1% of 10–1,000/s, p99 lateness ≤ 2 ms | worst sent-rate error "
            f"{max(abs(s['sent_rate_error'] or 0) for s in rates['steps']) * 100:.2f}%; worst p99 lateness "
            f"{_f(worst_step['lateness_ms']['p99'], 3)} ms (at {worst_step['rate']:g}/s) | {_yes(rates['pass'])} |"
        ),
        (
            f"| 2. throughput | ≥ {SUSTAINED_RATE:,.0f}/s from one process: open loop achieved, best closed loop | open loop "
            f"{tp['open_loop']['rate']:,.0f}/s: achieved {_f(tp['open_loop']['achieved_rate'], 0)}/s (sent {_f(tp['open_loop']['sent_rate'], 1)}/s, "
            f"p99 lateness {_f(tp['open_loop']['lateness_ms']['p99'], 3)} ms); closed loop best {_f(tp['closed_loop_best']['achieved_rate'], 0)}/s "
            f"at {tp['closed_loop_best']['concurrency']} in flight | {_yes(tp['pass'])} |"
        ),
        (
            f"| 3. streams | {judged['streams']} concurrent streams, p99 chunk-timestamp lag ≤ {STREAM_LAG_P99_LIMIT_MS:g} ms | "
            f"lag p50 {_f(judged['lag_ms']['p50'], 3)} / p99 {_f(judged['lag_ms']['p99'], 3)} / max {_f(judged['lag_ms']['max'], 3)} ms over "
            f"{judged['chunks']:,} chunks ({judged['chunks_per_stream'][0]}–{judged['chunks_per_stream'][1]} per stream, "
            f"{st['interval_ms']:g} ms apart, {st['duration_s']:g} s). Not judged: equal lengths (all restart "
            f"together) p99 {_f(st['variants']['equal']['lag_ms']['p99'], 3)} ms; one chunk grid "
            f"p99 {_f(st['variants']['aligned']['lag_ms']['p99'], 3)} ms | {_yes(st['pass'])} |"
        ),
        (
            f"| 4. startup | command to first request < 1 s | median {_f(su['median_s'], 3)} s, max {_f(su['max_s'], 3)} s "
            f"({len(su['seconds'])} runs) | {_yes(su['pass'])} |"
        ),
    ]
    if sdk.get("skipped"):
        out.append(f"| 5. OpenAI SDK | comparison | skipped: {sdk['skipped']} | n/a |")
    else:
        out.append(
            f"| 5. OpenAI SDK {sdk['openai']} | comparison, same workload | vlmperf/SDK e2e p50 {sdk['median_e2e_p50_ratio']:.3f}, "
            f"achieved req/s at {sdk['concurrency']} in flight {sdk['median_throughput_ratio']:.2f} (medians of {len(sdk['rounds'])} rounds) | n/a |"
        )
    out += [
        "",
        "Goal 1–2, open-loop steps (constant arrivals, no cap; lateness = start − deadline; loop lag = how late a 1 ms timer fires):",
        "",
        "| rate /s | s | requests | sent /s | achieved /s | lateness p50 / p99 / max ms | loop lag p50 / p99 / max ms | result |",
        "|---:|---:|---:|---:|---:|---|---|:---:|",
    ]
    for s in [*rates["steps"], tp["open_loop"]]:
        late, lag = s["lateness_ms"], s["loop_lag_ms"] or {}
        out.append(
            f"| {s['rate']:g} | {s['duration_s']:g} | {s['requests']} | {_f(s['sent_rate'])} | {_f(s['achieved_rate'])} "
            f"| {_f(late['p50'], 3)} / {_f(late['p99'], 3)} / {_f(late['max'], 3)} "
            f"| {_f(lag.get('p50'), 3)} / {_f(lag.get('p99'), 3)} / {_f(lag.get('max'), 3)} | {_yes(s['pass'])} |"
        )
    out += [
        "",
        (
            "Achieved = completed / (first start → last end); at n requests it is n/(n−1) of the sent rate by construction, "
            "so the ±1% test is on the sent rate."
        ),
        "",
        "Goal 2, closed loop (`concurrent` scenario):",
        "",
        "| in flight | requests | achieved /s | e2e p50 / p99 ms | loop lag p99 ms |",
        "|---:|---:|---:|---|---:|",
    ]
    for c in tp["closed_loop"]:
        out.append(
            f"| {c['concurrency']} | {c['requests']} | {_f(c['achieved_rate'], 0)} | {_f(c['e2e_ms']['p50'], 3)} / "
            f"{_f(c['e2e_ms']['p99'], 3)} | {_f(c['loop_lag_ms']['p99'], 3)} |"
        )
    out += [
        "",
        "Goal 3, chunk-timestamp lag (client arrival − server write, perf_counter_ns in both processes):",
        "",
        (
            "| streams | in flight | requests | chunks | lag p50 / p99 / max ms | server gap p50 / p99 ms | loop lag p99 ms "
            "| GC pauses > 5 ms (longest ms) | result |"
        ),
        "|---|---:|---:|---:|---|---|---:|---:|:---:|",
    ]
    for v in st["variants"].values():
        out.append(
            f"| {v['label']} | {v['max_in_flight']} | {v['requests']} | {v['chunks']:,} | {_f(v['lag_ms']['p50'], 3)} / "
            f"{_f(v['lag_ms']['p99'], 3)} / {_f(v['lag_ms']['max'], 3)} | {_f(v['server_interval_ms']['p50'], 2)} / "
            f"{_f(v['server_interval_ms']['p99'], 2)} | {_f(v['loop_lag_ms']['p99'], 3)} | "
            f"{v['gc_pauses']['over_5ms']} ({max(g['max_ms'] for k, g in v['gc_pauses'].items() if k.startswith('gen')):.1f}) | "
            f"{_yes(v['pass']) if v['judged'] else 'not judged (' + ('pass' if v['pass'] else 'over') + ')'} |"
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
                f"Goal 5, OpenAI SDK {sdk['openai']} (`AsyncOpenAI(...).chat.completions.create(stream=True)`) against vlmperf's "
                f"client, same server, order alternating per round; floor = {sdk['floor_requests']} single-stream requests, "
                f"throughput = {sdk['concurrency']} in flight for {sdk['duration_s']:g} s:"
            ),
            "",
            "| round | order | e2e p50 ms vlmperf / SDK | ratio | achieved /s vlmperf / SDK | ratio |",
            "|---:|---|---|---:|---|---:|",
        ]
        for i, r in enumerate(sdk["rounds"], 1):
            out.append(
                f"| {i} | {r['order']} | {_f(r['vlmperf_floor']['e2e_ms']['p50'], 3)} / {_f(r['sdk_floor']['e2e_ms']['p50'], 3)} "
                f"| {r['e2e_p50_ratio']:.3f} | {_f(r['vlmperf_closed']['achieved_rate'], 0)} / {_f(r['sdk_closed']['achieved_rate'], 0)} "
                f"| {r['throughput_ratio']:.2f} |"
            )
        out.append(f"| median | | | {sdk['median_e2e_p50_ratio']:.3f} | | {sdk['median_throughput_ratio']:.2f} |")
    git = env.get("git") or {}
    out += [
        "",
        (
            f"Environment: {env['date']}; `{env['command']}`; Python {env['python']}, aiohttp {env['aiohttp']}, "
            f"openai {env['openai']}; {env['cpu']} ({env['cpu_count']} cores); load average {env.get('load_average_start')} → "
            f"{env.get('load_average_end')}; commit {git.get('commit', '?')[:12]}{' (dirty)' if git.get('dirty') else ''}. "
            f"Took {report['wall_s']:.0f} s."
        ),
        "",
    ]
    return "\n".join(out)
