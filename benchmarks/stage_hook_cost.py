"""What do the stage hooks cost inside a generate call, and which part of them? Hook variants side by side.

One process, the built-in tiny model (launch-bound on a GPU), one prepared batch, greedy with a fixed
number of new tokens. Conditions, interleaved in a seeded random order per round, each timed as wall
time around generate plus a device sync: bare; no-op forward hooks on the top model; hooks that create
and record a CUDA event (what `CudaEventClock.mark` does); hooks that only record events created
before the call; hooks that read the host clock; vlmperf's StageTimer; timed_generate's reported
latency. Figures: median of paired ratios and differences against bare.

    python benchmarks/stage_hook_cost.py --device cuda [--rounds 60] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--rounds", type=int, default=60)
    parser.add_argument("--tokens", type=int, default=16)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    args = parser.parse_args(argv)

    import torch

    from vlmperf.backends.local.generate import generation_config, timed_generate
    from vlmperf.backends.local.inputs import prepare_batch
    from vlmperf.backends.local.loading import load_model
    from vlmperf.backends.local.target import LocalTarget
    from vlmperf.config.spec import Generation, Workload
    from vlmperf.meters.clock import clock_for
    from vlmperf.meters.stages import StageTimer
    from vlmperf.workloads.sources import load_samples
    from vlmperf.workloads.tasks import get_task

    torch.set_num_threads(1)
    cuda = args.device.startswith("cuda")
    loaded = load_model(LocalTarget(device=args.device))
    samples = load_samples(Workload(task="caption", source="builtin", limit=1))
    batch = prepare_batch(
        loaded, samples, [get_task("caption").prompt_for(s) for s in samples], max_input_len=None, device=args.device
    )
    config = generation_config(loaded, Generation(max_new_tokens=args.tokens, mode="fixed"))
    model, clock = loaded.model, clock_for(args.device)
    sync = torch.cuda.synchronize if cuda else (lambda: None)

    def timed(fn):
        sync()
        started = time.perf_counter_ns()
        fn()
        sync()
        return (time.perf_counter_ns() - started) / 1e6

    def generate():
        model.generate(**batch.inputs, generation_config=config)

    def hooked(before, after):
        def run():
            handles = [model.register_forward_pre_hook(before), model.register_forward_hook(after)]
            try:
                return timed(generate)
            finally:
                for handle in handles:
                    handle.remove()

        return run

    marks: list = []

    def event_mark(*_):
        if cuda:
            event = torch.cuda.Event(enable_timing=True)
            event.record()
            marks.append(event)

    pool: list = []

    def pooled_mark(*_):
        if cuda:
            pool.pop().record()

    def pooled():
        if cuda:
            pool[:] = [torch.cuda.Event(enable_timing=True) for _ in range(4 * args.tokens + 8)]
        return hooked(pooled_mark, pooled_mark)()

    def host_mark(*_):
        marks.append(time.perf_counter_ns())

    def stage_timer():
        timer = StageTimer(model, clock, compiled=False)
        with timer:
            return timed(generate)

    conditions = {
        "bare": lambda: timed(generate),
        "noop_hooks": hooked(lambda *_: None, lambda *_: None),
        "event_create_record_hooks": hooked(event_mark, event_mark),
        "event_record_only_hooks": pooled,
        "host_clock_hooks": hooked(host_mark, host_mark),
        "stage_timer": stage_timer,
        "timed_generate_reported": lambda: timed_generate(loaded, batch, config, clock).latency_s * 1e3,
    }
    for _ in range(5):
        for fn in conditions.values():
            fn()
            marks.clear()
    rng = random.Random(0)
    results: dict[str, list[float]] = {name: [] for name in conditions}
    for _ in range(args.rounds):
        order = list(conditions)
        rng.shuffle(order)
        for name in order:
            results[name].append(conditions[name]())
            marks.clear()
    bare = results["bare"]
    summary = {
        name: {
            "median_ms": statistics.median(values),
            "ratio_over_bare": statistics.median(v / b for v, b in zip(values, bare, strict=True)),
            "minus_bare_ms": statistics.median(v - b for v, b in zip(values, bare, strict=True)),
        }
        for name, values in results.items()
    }
    report = {
        "device": torch.cuda.get_device_name() if cuda else "cpu",
        "tokens": args.tokens,
        "rounds": args.rounds,
        "torch": torch.__version__,
        "conditions": summary,
    }
    for name, figures in summary.items():
        print(
            f"{name:28s} {figures['median_ms']:8.3f} ms  x{figures['ratio_over_bare']:.4f}  "
            f"{figures['minus_bare_ms']:+.3f} ms",
            flush=True,
        )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"stage_hook_cost_{'cuda' if cuda else 'cpu'}.json").write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
