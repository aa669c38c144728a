"""`vlmperf score` (a predictions file or a stored run) and `vlmperf calibrate` (the client itself)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from vlmperf.cli.app import DEFAULT_DIR, OutOption, app, err_console, out_console
from vlmperf.errors import VlmperfError


@app.command()
def score(
    task: Annotated[
        str | None, typer.Option("--task", help="task to score as (caption, vqa, textvqa, mcq, wer, cer, ...)")
    ] = None,
    predictions: Annotated[
        Path | None, typer.Option("--predictions", help='JSON lines: {"id", "prediction", <references>}')
    ] = None,
    run_id: Annotated[
        str | None, typer.Option("--run", help="re-score a stored run's outputs: run id, or latest")
    ] = None,
    format: Annotated[str, typer.Option("--format", "-f", help="table or json")] = "table",
    output: Annotated[Path | None, typer.Option("-o", "--output", help="write to this file instead of stdout")] = None,
    per_sample: Annotated[
        bool, typer.Option("--per-sample", help="add each sample's own score to the JSON (with --format json)")
    ] = False,
    normalised_text_errors: Annotated[
        bool,
        typer.Option(
            "--normalised-text-errors",
            help="also report wer_normalised and cer_normalised (lower-case, no punctuation)",
        ),
    ] = False,
    out: OutOption = DEFAULT_DIR,
) -> None:
    """Score a predictions file (--task, --predictions), or re-score a stored run (--run)."""
    from vlmperf.scoring.score_command import run_score_command

    written = run_score_command(
        task=task,
        predictions=predictions,
        run=run_id,
        format=format,
        output=output,
        out=out,
        per_sample=per_sample,
        normalised_text_errors=normalised_text_errors,
    )
    if written is not None:
        err_console.print(f"wrote {written}")


@app.command()
def calibrate(
    duration: Annotated[float, typer.Option("--duration", help="seconds per rate step", min=0.1)] = 2.0,
    format: Annotated[str, typer.Option("--format", "-f", help="table or json")] = "table",
) -> None:
    """Measure the client itself: its latency floor and the highest request rate it holds here."""
    import json

    from rich.table import Table

    from vlmperf.backends.endpoint.load.calibrate import calibrate as measure_client

    if format not in ("table", "json"):
        raise VlmperfError(f"--format {format!r} is not known; use table or json")
    result = measure_client(duration_s=duration)
    if format == "json":
        sys.stdout.write(json.dumps(result, indent=2) + "\n")
        return
    floor = result["floor"]
    out_console.print(
        f"client floor (single stream, instant loopback server, {floor['requests']} requests): "
        f"e2e p50 {floor['e2e_s']['p50'] * 1e3:.3f} ms, p99 {floor['e2e_s']['p99'] * 1e3:.3f} ms"
    )
    table = Table(title="open-loop rate steps", title_justify="left")
    for column in (
        "offered/s",
        "sent/s",
        "achieved/s",
        "lateness p50 ms",
        "lateness p99 ms",
        "loop lag p99 ms",
        "holds",
    ):
        table.add_column(column)
    for step in result["steps"]:
        lateness, lag = step["scheduler_lateness_s"], step["loop_lag_s"]
        table.add_row(
            f"{step['offered_rate']:g}",
            f"{step['sent_rate'] or 0:.1f}",
            f"{step['achieved_rate'] or 0:.1f}",
            f"{(lateness['p50'] or 0) * 1e3:.3f}",
            f"{(lateness['p99'] or 0) * 1e3:.3f}",
            f"{(lag['p99'] or 0) * 1e3:.3f}",
            "yes" if step["holds"] else "no",
        )
    out_console.print(table)
    best = result["max_rate"]
    out_console.print(f"highest rate held: {best:g} requests/s" if best else "no rate step held on this machine")
