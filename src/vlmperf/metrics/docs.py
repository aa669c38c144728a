"""Generate docs/metrics.md from the metric definitions (run `python -m vlmperf.metrics.docs`)."""

from __future__ import annotations

import sys
from pathlib import Path

from vlmperf.backends.registry import KINDS
from vlmperf.meters.watches import WATCHES
from vlmperf.metrics import stability
from vlmperf.metrics.definitions import CELL_FIGURES, metrics_for
from vlmperf.metrics.summary import STATISTICS
from vlmperf.metrics.summary import __doc__ as SUMMARY_DOC
from vlmperf.scoring.definitions import QUALITY_METRICS

HEADER = """# Metrics

Generated from the metric definitions (`src/vlmperf/metrics/`) and the quality definitions
(`src/vlmperf/scoring/definitions.py`) by `python -m vlmperf.metrics.docs`; do not edit by hand.
Metric names are the public schema: JSON keys, CSV column prefixes, report columns. Units live in the name.

`better` says which way a change is an improvement (`-`: the figure describes the work, and a change is
reported, never judged); `vlmperf compare` and the report read it from the same registry.

`level` says what one value is: `batch` — one per record (a measured generate call over a batch
for a local model, one request for an endpoint); `sample` — one per sample of a record; `gap` — one
per gap between an endpoint's token chunks; `window` — one per energy window (consecutive timed runs
of one cell, at least `measure.min_energy_window_s` long).

"""


def render() -> str:
    lines = [HEADER]
    for kind in KINDS.values():
        target = kind.name
        lines += [f"## {kind.title}", "", "| metric | unit | level | better | definition |", "|---|---|---|---|---|"]
        for metric in metrics_for(target).values():
            lines.append(
                f"| `{metric.name}` | {metric.unit} | {metric.level} | {metric.better or '-'} "
                f"| {metric.definition(target)} |"
            )
        lines.append("")
    lines += [
        "## Cell figures",
        "",
        'One figure per cell, `{"value": ...}` in its summary beside the distributions (not summarised over records).',
        "",
        "| figure | unit | better | definition |",
        "|---|---|---|---|",
        *(f"| `{f.name}` | {f.unit} | {f.better or '-'} | {f.definition} |" for f in CELL_FIGURES.values()),
        "",
    ]
    summary = " ".join((SUMMARY_DOC or "").split())
    lines += [
        "## Summaries",
        "",
        f"Every metric of a cell is summarised as `{' '.join(STATISTICS)}` and `ci95`. {summary}",
        "",
        "## Stability",
        "",
        (stability.__doc__ or "").strip(),
        "",
        "The window watches, in the registry's order (`src/vlmperf/meters/watches.py`):",
        "",
        *(f"- `{w.key}` (`{w.verdict.__module__.removeprefix('vlmperf.')}`): {w.doc}." for w in WATCHES.values()),
        "",
        "Thresholds: "
        + "; ".join(
            [
                f"`noisy` above a coefficient of variation of {stability.NOISY_CV:.0%} or a median's interval "
                f"wider than {stability.WIDE_P50_CI:.0%} of it",
                *(f"`{w.flag}` {w.threshold}" for w in WATCHES.values()),
            ]
        )
        + ".",
        "",
        "## Quality",
        "",
        "Scored on each cell's outputs (each sample's first), beside its speed. A quality figure is `value`, "
        "`ci95` (a 95% percentile bootstrap interval over samples, 2,000 resamples, fixed seed; for corpus "
        "figures the interval of the per-sample mean shifted onto the value, never below 0) and `n`, with the "
        "implementation and version, the prompt template hash and the subset recorded beside it. A metric "
        "under a reference's name equals that reference on the same outputs (tested against a transcription "
        "of it); vlmperf's own variants have names of their own (`any_answer_match`, `*_lenient`, "
        "`*_normalised`).",
        "",
        "| metric | better | equals | definition |",
        "|---|---|---|---|",
        *(
            f"| `{m.name}` | {'lower' if m.lower_is_better else 'higher'} | {m.implementation} | {m.definition} |"
            for m in QUALITY_METRICS.values()
        ),
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    target = Path(argv[1]) if len(argv) > 1 else Path("docs/metrics.md")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render())
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
