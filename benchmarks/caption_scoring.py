"""How long does scoring 5,000 captions against 5 references each take? All caption metrics + wer + cer.

The captions are generated deterministically (seeded) from a word list: each image has a base
sentence of 8-14 words; its 5 references and its prediction are independent perturbations of it
(words substituted, dropped or inserted; capitalised, with a full stop), so predictions overlap
their references about as much as a fair captioning model's do (BLEU-4 ~0.46, CIDEr ~2.9).

What is timed, end to end and cold (new Java processes each time, as `vlmperf score` does):
`caption_metrics` (PTB tokenizer, BLEU-1..4, METEOR, ROUGE-L, CIDEr-D, bootstrap intervals) then
`word_error_rate` and `char_error_rate` ("sequential"). Also timed: the same work "overlapped",
one `CaptionScorer` whose `start()` hands METEOR its work, wer and cer computed while METEOR
scores, then `.result()`. `--repeats` runs of each (3 by default, the two ways in a seeded random
order per repeat) in one process; the figures quoted are medians. Pass criterion (issue 3,
Speed): the sequential median is at most 20 s on 2 cores. Every run must report exactly the same
values (the script fails otherwise).

Also measured, each stage alone and one after the other (where the time goes): the PTB tokenizer,
METEOR's start (loading its 61 MB paraphrase table, to the first answer), METEOR's scoring, BLEU,
ROUGE-L, CIDEr, the 7 bootstrap intervals, wer and cer; a warm set (a `CaptionScorer` whose
METEOR is already loaded, the case of a sweep scoring cell after cell); and with `--baseline`,
pycocoevalcap used as its README does (two tokenizer runs, `Meteor()` answering line by line),
whose values must equal ours exactly.

Run from the repository root:  python benchmarks/caption_scoring.py [--n 5000] [--refs 5] [--repeats 3] [--baseline]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
GOAL_S = 20.0

WORDS = """a an the man woman child boy girl dog cat horse bird cow sheep elephant giraffe zebra person people group of
two three several many some his her their its sitting standing walking running riding holding eating playing
looking flying lying parked jumping on in at with near next to under over top front behind beside table
street field beach road park grass water snow kitchen room bed couch window wall building car bus train
truck bike motorcycle boat plane sky tree red blue green white black yellow brown large small young old
little big tall plate pizza sandwich cake food bowl cup phone laptop computer ball frisbee kite umbrella
surfboard skateboard while and is are down up through across along together""".split()  # noqa: SIM905


def make_captions(n: int, refs: int, seed: int) -> tuple[dict[str, str], dict[str, list[str]]]:
    """`n` predictions and `refs` references each, the same for the same arguments."""
    rng = random.Random(seed)
    predictions: dict[str, str] = {}
    references: dict[str, list[str]] = {}

    def perturb(base: list[str]) -> str:
        out: list[str] = []
        for word in base:
            r = rng.random()
            if r < 0.15:
                out.append(rng.choice(WORDS))  # substituted
            elif r < 0.22:
                continue  # dropped
            elif r < 0.28:
                out.extend([word, rng.choice(WORDS)])  # one inserted after it
            else:
                out.append(word)
        text = " ".join(out)
        return text[:1].upper() + text[1:] + "."

    for i in range(n):
        base = [rng.choice(WORDS) for _ in range(rng.randint(8, 14))]
        key = f"img{i:05d}"
        references[key] = [perturb(base) for _ in range(refs)]
        predictions[key] = perturb(base)
    return predictions, references


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=5000, help="captions to score (default 5000)")
    parser.add_argument("--refs", type=int, default=5, help="references per caption (default 5)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=3, help="cold end-to-end runs (default 3)")
    parser.add_argument("--baseline", action="store_true", help="also time pycocoevalcap as its README uses it")
    parser.add_argument("--no-stages", action="store_true", help="skip the per-stage breakdown")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    return parser.parse_args(argv)


def environment() -> dict[str, Any]:
    from vlmperf import __version__
    from vlmperf.runner.manifest import cpu_model, git_commit, load_average, package_version
    from vlmperf.scoring.java import java_version

    os.environ.setdefault("GIT_OPTIONAL_LOCKS", "0")  # `git status` must not rewrite the index
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count()
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "vlmperf": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "pycocoevalcap": package_version("pycocoevalcap"),
        "jiwer": package_version("jiwer"),
        "rapidfuzz": package_version("rapidfuzz"),
        "numpy": package_version("numpy"),
        "java": java_version(),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "cores_usable": cores,
        "git": git_commit(REPO),
        "load_average_start": load_average(),
    }


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def values_of(results: dict[str, Any]) -> dict[str, float]:
    return {name: r.value for name, r in results.items()}


def end_to_end(predictions: dict[str, str], references: dict[str, list[str]]) -> dict[str, Any]:
    """One cold run of everything: the figure the goal is about."""
    from vlmperf.scoring.captions import caption_metrics
    from vlmperf.scoring.text_error import char_error_rate, word_error_rate

    t0 = time.perf_counter()
    captions = caption_metrics(predictions, references)
    t1 = time.perf_counter()
    wer = word_error_rate(predictions, references, pick="closest")
    t2 = time.perf_counter()
    cer = char_error_rate(predictions, references, pick="closest")
    t3 = time.perf_counter()
    results = {**captions, "wer": wer, "cer": cer}
    return {
        "total_s": t3 - t0,
        "captions_s": t1 - t0,
        "wer_s": t2 - t1,
        "cer_s": t3 - t2,
        "values": values_of(results),
        "ci95": {name: list(r.ci95) if r.ci95 else None for name, r in results.items()},
    }


def end_to_end_overlapped(predictions: dict[str, str], references: dict[str, list[str]]) -> dict[str, Any]:
    """One cold run with wer and cer computed while METEOR scores (CaptionScorer.start / .result)."""
    from vlmperf.scoring.captions import CaptionScorer
    from vlmperf.scoring.text_error import char_error_rate, word_error_rate

    t0 = time.perf_counter()
    with CaptionScorer() as scorer:
        pending = scorer.start(predictions, references)
        wer = word_error_rate(predictions, references, pick="closest")
        cer = char_error_rate(predictions, references, pick="closest")
        captions = pending.result()
    t1 = time.perf_counter()
    results = {**captions, "wer": wer, "cer": cer}
    return {
        "total_s": t1 - t0,
        "values": values_of(results),
        "ci95": {name: list(r.ci95) if r.ci95 else None for name, r in results.items()},
    }


def stages(predictions: dict[str, str], references: dict[str, list[str]]) -> dict[str, float]:
    """Each stage alone, one after the other (nothing overlaps here, unlike in caption_metrics)."""
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.meteor import meteor as meteor_module
    from pycocoevalcap.rouge.rouge import Rouge
    from pycocoevalcap.tokenizer import ptbtokenizer

    from vlmperf.scoring import captions
    from vlmperf.scoring.java import clear_cache, require_java
    from vlmperf.scoring.result import interval
    from vlmperf.scoring.text_error import char_error_rate, word_error_rate

    out: dict[str, float] = {}
    clear_cache()
    out["java_check_s"], java = timed(lambda: require_java("benchmark"))
    ids = list(predictions)
    out["ptb_tokenizer_s"], (gts, res) = timed(
        lambda: captions.tokenize(java, ptbtokenizer, ids, predictions, references)
    )

    def start_meteor() -> captions._Meteor:
        m = captions._Meteor(java, meteor_module)
        m.exchange(["SCORE ||| a dog ||| a dog"], 1, [0.0])  # the first answer comes once it has loaded
        return m

    out["meteor_start_s"], meteor = timed(start_meteor)
    try:
        out["meteor_score_s"], (meteor_value, meteor_scores) = timed(lambda: meteor.submit(gts, res).result())
    finally:
        meteor.close()
    out["bleu_s"], (bleu, bleu_scores) = timed(lambda: Bleu(4).compute_score(gts, res, verbose=0))
    out["rouge_l_s"], (rouge, rouge_scores) = timed(lambda: Rouge().compute_score(gts, res))
    out["cider_s"], (cider, cider_scores) = timed(lambda: Cider().compute_score(gts, res))
    pairs = [
        *zip(bleu, bleu_scores, strict=True),
        (meteor_value, meteor_scores),
        (rouge, rouge_scores),
        (cider, cider_scores),
    ]
    out["bootstrap_7_intervals_s"], _ = timed(
        lambda: [interval([float(s) for s in scores], float(v)) for v, scores in pairs]
    )
    out["wer_s"], _ = timed(lambda: word_error_rate(predictions, references, pick="closest"))
    out["cer_s"], _ = timed(lambda: char_error_rate(predictions, references, pick="closest"))
    return out


def warm(predictions: dict[str, str], references: dict[str, list[str]]) -> dict[str, Any]:
    """A second set on a CaptionScorer whose METEOR is loaded: what each cell of a sweep pays."""
    from vlmperf.scoring.captions import CaptionScorer

    with CaptionScorer() as scorer:
        first_s, first = timed(lambda: scorer.score(predictions, references))
        second_s, second = timed(lambda: scorer.score(predictions, references))
    assert values_of(first) == values_of(second), "a warm scorer gave different values"
    return {"first_set_s": first_s, "second_set_s": second_s, "values": values_of(second)}


def baseline(predictions: dict[str, str], references: dict[str, list[str]]) -> dict[str, Any]:
    """pycocoevalcap as its COCOEvalCap does it: tokenizer twice, Meteor() answering line by line."""
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.meteor.meteor import Meteor
    from pycocoevalcap.rouge.rouge import Rouge
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    t0 = time.perf_counter()
    tokenizer = PTBTokenizer()
    gts = tokenizer.tokenize({k: [{"caption": c} for c in v] for k, v in references.items() if k in predictions})
    res = tokenizer.tokenize({k: [{"caption": v}] for k, v in predictions.items()})
    t1 = time.perf_counter()
    values: dict[str, float] = {}
    bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
    values.update({f"bleu_{n + 1}": float(bleu[n]) for n in range(4)})
    meteor = Meteor()
    try:
        values["meteor"] = float(meteor.compute_score(gts, res)[0])
    finally:
        meteor.meteor_p.stdin.close()
        meteor.meteor_p.kill()
        meteor.meteor_p.wait()
    values["rouge_l"] = float(Rouge().compute_score(gts, res)[0])
    values["cider"] = float(Cider().compute_score(gts, res)[0])
    t2 = time.perf_counter()
    return {"total_s": t2 - t0, "tokenize_s": t1 - t0, "values": values}


def markdown(report: dict[str, Any]) -> str:
    env = report["environment"]
    runs = report["end_to_end"]
    git = env.get("git") or {}
    verdict = "**PASS**" if report["pass"] else "**FAIL**"
    lines = [
        f"# Caption scoring: {report['n']:,} captions x {report['refs']} references, every quality metric",
        "",
        (
            f"Criterion: scoring {report['n']:,} captions against {report['refs']} references each (bleu_1..4, meteor, "
            f"rouge_l, cider, wer, cer, with bootstrap intervals) takes at most {GOAL_S:.0f} s on 2 cores, cold "
            f"(new Java processes). Median of {len(runs)} runs: **{report['median_total_s']:.1f} s** "
            f"({report['median_overlapped_s']:.1f} s overlapped). {verdict}."
        ),
        "",
        (
            "*Sequential*: `caption_metrics`, then `word_error_rate`, then `char_error_rate`, as three "
            "independent calls; the criterion is on this one. *Overlapped*: one `CaptionScorer`, `start()`, "
            "wer and cer while METEOR scores, then `.result()`; the same values, what a caller that "
            "scores a caption task in one place gets. The two ways alternate in a seeded random order."
        ),
        "",
        "| run | sequential total s | caption metrics s | wer s | cer s | overlapped total s |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for i, (run, over) in enumerate(zip(runs, report["overlapped"], strict=True), start=1):
        lines.append(
            f"| {i} | {run['total_s']:.2f} | {run['captions_s']:.2f} | {run['wer_s']:.2f} | {run['cer_s']:.2f} "
            f"| {over['total_s']:.2f} |"
        )
    lines.append(f"| median | {report['median_total_s']:.2f} | | | | {report['median_overlapped_s']:.2f} |")
    lines += ["", "Values (identical in every run):", "", "| metric | value | 95% CI |", "|---|---:|---|"]
    for name, value in runs[0]["values"].items():
        ci = runs[0]["ci95"][name]
        lines.append(
            f"| {name} | {value:.6f} | [{ci[0]:.6f}, {ci[1]:.6f}] |" if ci else f"| {name} | {value:.6f} | - |"
        )
    if report.get("stages"):
        st = report["stages"]
        lines += [
            "",
            (
                "Where the time goes (each stage alone, one after the other; in `caption_metrics` METEOR's start "
                "and scoring run in the METEOR process while the tokenizer, BLEU, ROUGE-L and CIDEr run in Python, "
                "so the end-to-end time is less than this sum):"
            ),
            "",
            "| stage | s |",
            "|---|---:|",
        ]
        lines += [f"| {name.removesuffix('_s').replace('_', ' ')} | {value:.2f} |" for name, value in st.items()]
        lines.append(f"| sum | {sum(st.values()):.2f} |")
    if report.get("warm"):
        w = report["warm"]
        lines += [
            "",
            (
                f"Warm (one `CaptionScorer` kept open, METEOR already loaded, as in a sweep): caption metrics of a "
                f"second set of {report['n']:,} take {w['second_set_s']:.2f} s "
                f"(the first took {w['first_set_s']:.2f} s)."
            ),
        ]
    if report.get("baseline"):
        b = report["baseline"]
        lines += [
            "",
            (
                f"pycocoevalcap as its README uses it (tokenizer run twice, `Meteor()` answering one line at a time, "
                f"everything in sequence): {b['total_s']:.2f} s for the caption metrics alone (no intervals), "
                f"values {'identical to' if b['same_values'] else 'DIFFERENT from'} ours."
            ),
        ]
    load_end = env.get("load_average_end")
    lines += [
        "",
        (
            f"Environment: {env['date']}; `{env['command']}`; pycocoevalcap {env['pycocoevalcap']}, "
            f"jiwer {env['jiwer']}, rapidfuzz {env['rapidfuzz']}, numpy {env['numpy']}, Python {env['python']}; "
            f"Java: {env['java']}; "
            f"CPU {env['cpu']} ({env['cores_usable']} cores usable); load average {env['load_average_start']} → "
            f"{load_end}; commit {git.get('commit', '?')[:12]}{' (dirty)' if git.get('dirty') else ''}."
        ),
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    env = environment()
    predictions, references = make_captions(args.n, args.refs, args.seed)
    runs: list[dict[str, Any]] = []
    overlapped: list[dict[str, Any]] = []
    rng = random.Random(args.seed)
    for i in range(args.repeats):
        # both ways of running, in a seeded random order per repeat (DESIGN.md's measurement rules)
        for way in rng.sample(["sequential", "overlapped"], 2):
            if way == "sequential":
                run = end_to_end(predictions, references)
                runs.append(run)
                print(
                    f"run {i + 1} sequential: {run['total_s']:.2f} s (captions {run['captions_s']:.2f}, "
                    f"wer {run['wer_s']:.2f}, cer {run['cer_s']:.2f})",
                    flush=True,
                )
            else:
                run = end_to_end_overlapped(predictions, references)
                overlapped.append(run)
                print(f"run {i + 1} overlapped: {run['total_s']:.2f} s", flush=True)
    same = all(run["values"] == runs[0]["values"] and run["ci95"] == runs[0]["ci95"] for run in [*runs, *overlapped])
    median_total = statistics.median(run["total_s"] for run in runs)
    median_overlapped = statistics.median(run["total_s"] for run in overlapped)
    report: dict[str, Any] = {
        "goal_s": GOAL_S,
        "n": args.n,
        "refs": args.refs,
        "seed": args.seed,
        "end_to_end": runs,
        "median_total_s": median_total,
        "overlapped": overlapped,
        "median_overlapped_s": median_overlapped,
        "same_values_every_run": same,
    }
    if not args.no_stages:
        report["stages"] = stages(predictions, references)
        print("stages:", {k: round(v, 2) for k, v in report["stages"].items()}, flush=True)
        report["warm"] = warm(predictions, references)
        print(f"warm second set: {report['warm']['second_set_s']:.2f} s", flush=True)
        same = same and all(report["warm"]["values"][k] == runs[0]["values"][k] for k in report["warm"]["values"])
    if args.baseline:
        base = baseline(predictions, references)
        base["same_values"] = all(base["values"][k] == runs[0]["values"][k] for k in base["values"])
        report["baseline"] = base
        print(f"pycocoevalcap as-is: {base['total_s']:.2f} s, same values: {base['same_values']}", flush=True)
        same = same and base["same_values"]
    from vlmperf.runner.manifest import load_average

    env["load_average_end"] = load_average()
    report["environment"] = env
    report["pass"] = bool(median_total <= GOAL_S and same)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "caption_scoring.json").write_text(json.dumps(report, indent=2) + "\n")
    (args.out / "caption_scoring.md").write_text(markdown(report))
    print(
        f"median {median_total:.2f} s sequential, {median_overlapped:.2f} s overlapped "
        f"(goal ≤ {GOAL_S:.0f} s); values identical: {same}; "
        f"{'PASS' if report['pass'] else 'FAIL'}; wrote {args.out}/caption_scoring.{{json,md}}"
    )
    return 0 if report["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
