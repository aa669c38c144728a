"""`vlmperf run` and `vlmperf profile`: measure a sweep, print its table, write its HTML report."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from vlmperf import api
from vlmperf.cli.app import DEFAULT_DIR, OutOption, app, err_console, out_console
from vlmperf.cli.progress import ProgressEvents, interrupted
from vlmperf.metrics.summary_types import figure
from vlmperf.report.render import rich_table
from vlmperf.report.tables import stability_lines
from vlmperf.store.sqlite import Store

ExecutorOption = Annotated[
    str | None,
    typer.Option(
        "--executor",
        help="where groups of cells run: local (this process), process (a child process each: a crash or "
        "hang fails only its cells) or ray (Ray tasks on a cluster); same as --set executor.kind=...",
    ),
]
RayAddressOption = Annotated[
    str | None,
    typer.Option(
        "--ray-address",
        help="the Ray cluster to join (default: RAY_ADDRESS, else a local runtime); implies --executor ray",
    ),
]


def executor_overrides(executor: str | None, ray_address: str | None) -> list[str]:
    """The config overrides the executor flags stand for (validated with the rest of the config)."""
    kind = executor or ("ray" if ray_address else None)
    overrides = [f"executor.kind={kind}"] if kind else []
    return overrides + ([f"executor.ray_address={ray_address}"] if ray_address else [])


@app.command()
def run(
    config: Annotated[Path | None, typer.Argument(help="YAML config (default: the built-in demo sweep)")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="override a config key: dotted.key=value")] = None,
    out: OutOption = DEFAULT_DIR,
    resume: Annotated[
        bool,
        typer.Option("--resume", help="continue the newest run holding any of these cells, skipping finished ones"),
    ] = False,
    executor: ExecutorOption = None,
    ray_address: RayAddressOption = None,
) -> None:
    """Run a sweep and print its summary table. Exits 1 when every cell failed."""
    events = ProgressEvents(err_console)
    overrides = [*(set_ or []), *executor_overrides(executor, ray_address)]
    try:
        outcome = api.run(config, overrides=overrides, out=out, resume=resume, events=events)
    except KeyboardInterrupt:
        # typer turns a KeyboardInterrupt into a bare exit 130, so say here what was kept.
        err_console.print(interrupted(events.run_id))
        raise typer.Exit(130) from None
    if resume and not outcome.resumed:
        err_console.print("--resume: no stored run holds any of these cells, so this was a new run")
    with Store.open(out) as store:
        from vlmperf.report.schema import run_document

        document = run_document(store, outcome.run_id)
    out_console.print(rich_table(document))
    out_console.print(
        f"stored in {Path(out) / 'vlmperf.db'} as run {outcome.run_id}; "
        f"`vlmperf report {outcome.run_id}` shows it again"
    )
    _write_html_report(outcome.run_id, out)
    for line in stability_lines(document):
        err_console.print(f"[yellow]{escape(line)}[/yellow]", markup=True, highlight=False, soft_wrap=True)
    qualities = [c["info"].get("quality") or {} for c in document["cells"]]
    unscored: set[str] = {q["not_scored"] for q in qualities if q.get("not_scored") is not None}
    for reason in sorted(unscored):
        err_console.print(f"[yellow]quality not scored[/yellow]: {reason}", markup=True, highlight=False)
    for cell in document["cells"]:
        bound = figure(cell["metrics"], "client_bound")
        if bound is not None and bound["value"]:
            err_console.print(
                f"[yellow]cell {cell['id']} was client-bound[/yellow] ({'; '.join(bound['why'])}): its figures show "
                "this machine's limit, not the server's; lower the load or run `vlmperf calibrate`",
                markup=True,
                highlight=False,
            )
    if outcome.failed:
        err_console.print(f"[yellow]{outcome.failed} of {outcome.cells} cells failed[/yellow] (see the table)")
    if outcome.failed and outcome.failed == outcome.cells - outcome.skipped:
        raise typer.Exit(1)


def _write_html_report(run_id: str, out: Path) -> None:
    """The run's HTML report beside its store (`<out>/reports/<run id>.html`), when plotly is installed."""
    import importlib.util

    if importlib.util.find_spec("plotly") is None:
        err_console.print("no HTML report: it needs plotly (pip install 'vlmperf[report]')")
        return
    from vlmperf.report.html import render_run

    started = time.perf_counter()
    path = Path(out) / "reports" / f"{run_id}.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_run(run_id, out))
    with Store.open(out) as store:
        store.add_seconds(run_id, "report_s", time.perf_counter() - started)
    out_console.print(f"HTML report: {path}")


@app.command()
def profile(
    config: Annotated[Path | None, typer.Argument(help="YAML config (default: the built-in demo sweep)")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="override a config key: dotted.key=value")] = None,
    out: OutOption = DEFAULT_DIR,
    top: Annotated[int, typer.Option("--top", help="layer classes shown; the rest are summed in one row")] = 12,
    executor: ExecutorOption = None,
    ray_address: RayAddressOption = None,
) -> None:
    """Run a sweep with a per-module profile of every cell (measure.profile=true): the top layer
    classes by self time across the sweep's cells, and a torch.profiler trace per cell."""
    from vlmperf.report.module_profile import module_profile_table, run_profiles
    from vlmperf.report.schema import run_document

    events = ProgressEvents(err_console)
    try:
        overrides = [*(set_ or []), "measure.profile=true", *executor_overrides(executor, ray_address)]
        outcome = api.run(config, overrides=overrides, out=out, events=events)
    except KeyboardInterrupt:
        err_console.print(interrupted(events.run_id))
        raise typer.Exit(130) from None
    with Store.open(out) as store:
        document = run_document(store, outcome.run_id)
    out_console.print(rich_table(document))
    profiles = run_profiles(document)
    if not profiles:
        err_console.print("[yellow]no cell finished, so there is no profile[/yellow] (see the table)")
        raise typer.Exit(1)
    out_console.print(module_profile_table(profiles, top))
    for cell in document["cells"]:
        trace = ((cell.get("info") or {}).get("profile") or {}).get("trace")
        if trace:
            out_console.print(
                f"trace of cell {cell['id']}: {trace['path']} (open in https://ui.perfetto.dev or chrome://tracing)"
            )
    out_console.print(f"stored as run {outcome.run_id}; `vlmperf report {outcome.run_id}` shows it again")
