"""Measure endpoint cells that differ only in their target, together, in one time window.

The group's requests are prepared (images encoded, bodies serialised) before anything is sent;
then the load driver applies the scenario to all targets at once (round robin for single-stream).
Each finished request's record is handed to a writer thread (`record_writer`), which stores it
within `WRITE_INTERVAL_S`: the event loop that takes the timestamps never touches the store, the
file system or the progress display. Once the load is over and every record is stored, each cell
is summarised and scored on its own records. Nothing here imports torch or transformers.
"""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from collections import Counter
from typing import TYPE_CHECKING, Any

import aiohttp

from vlmperf.backends.endpoint import arrival
from vlmperf.backends.endpoint.client import trace_config
from vlmperf.backends.endpoint.load.driver import Driver, TargetLoad
from vlmperf.backends.endpoint.presets import PRESETS
from vlmperf.backends.endpoint.record_writer import RecordWriter
from vlmperf.backends.endpoint.requests import prepare_requests
from vlmperf.backends.endpoint.resolve import resolve_endpoint, served_here, target_label
from vlmperf.backends.endpoint.target import EndpointTarget
from vlmperf.errors import VlmperfError
from vlmperf.meters.watches import OpenWatches, open_watches
from vlmperf.metrics.cell_summary import summarize_records
from vlmperf.metrics.definitions import METRICS
from vlmperf.metrics.load_figures import load_figures
from vlmperf.metrics.stability import stability
from vlmperf.metrics.summary import tail
from vlmperf.metrics.summary_types import CellSummary
from vlmperf.runner.cell_errors import INTERRUPTED, fail_cell
from vlmperf.runner.events import RunEvents
from vlmperf.runner.plan import Cell
from vlmperf.runner.quality import CellQuality
from vlmperf.runner.sink import CellSink
from vlmperf.workloads.system_prompts import system_text
from vlmperf.workloads.tasks import get_task, prompt_hash, workload_prompts

if TYPE_CHECKING:
    from vlmperf.runner.plan import Plan

CONNECTIONS_PER_HOST = 0
"""aiohttp's per-host connection limit: 0 is none, so the scenario alone decides what is in flight."""


def _target_load(cell: Cell, plan: Plan, run_id: str, writer: RecordWriter) -> tuple[TargetLoad, str]:
    spec = cell.spec
    target = spec.target
    assert isinstance(target, EndpointTarget)
    samples = plan.workload_for(cell).samples
    workload = spec.workload
    template, prompts = workload_prompts(
        workload.task, workload.prompt, samples, ocr=workload.ocr_tokens, system_prompt=workload.system_prompt
    )

    def keep(seq: int, record: dict[str, Any]) -> None:
        writer.add(cell, seq, record)

    price = (target.price.input_per_mtok, target.price.output_per_mtok) if target.price else None
    load = TargetLoad(
        name=target_label(target),
        endpoint=resolve_endpoint(target),
        requests=prepare_requests(samples, prompts, target, spec.generation),
        on_record=keep,
        answers_captions=get_task(spec.workload.task).answers_captions,
        served_by_fallback=target.provider,
        price=price,
        id_prefix=f"{run_id}/{cell.id}",
    )
    return load, template


async def _drive(driver: Driver) -> None:
    """Run the driver; Ctrl-C (SIGINT) calls driver.interrupt() instead of cancelling everything."""
    loop = asyncio.get_running_loop()
    handles_sigint = threading.current_thread() is threading.main_thread()
    if handles_sigint:
        loop.add_signal_handler(signal.SIGINT, driver.interrupt)
    try:
        connector = arrival.connector(limit=0, limit_per_host=CONNECTIONS_PER_HOST, force_close=False)
        async with aiohttp.ClientSession(connector=connector, trace_configs=[trace_config()]) as session:
            await driver.run(session)
    finally:
        if handles_sigint:
            loop.remove_signal_handler(signal.SIGINT)


def run_endpoint_group(
    group: list[Cell], plan: Plan, store: CellSink, run_id: str, events: RunEvents, quality: CellQuality
) -> int:
    """Send the group's load and store its cells; returns how many failed."""
    loads: list[tuple[Cell, TargetLoad, str]] = []
    failed = 0
    writer = RecordWriter(store, run_id, events)
    for cell in group:
        store.start_cell(run_id, cell.id)
        events.cell_started(cell)
        events.step_started(cell, "prepare")
        try:
            load, template = _target_load(cell, plan, run_id, writer)
        except VlmperfError as exc:
            fail_cell(store, run_id, cell, exc, events, stage="prepare")
            failed += 1
            continue
        loads.append((cell, load, template))
    if not loads:
        return failed
    spec = loads[0][0].spec
    driver = Driver([load for _, load, _ in loads], spec.scenario, spec.measure, seed=spec.generation.seed)
    events.step_started(None, "drive")
    started = time.perf_counter()
    # the group's one window is its whole drive; no device here (the model runs at the endpoint)
    watches = open_watches(None)
    watches.before()
    with writer:
        asyncio.run(_drive(driver))
    watches.after()
    watches.close()
    drive_s = time.perf_counter() - started
    if driver.interrupted:  # what was measured stays in the store; --resume measures these cells again
        for cell, load, _ in loads:
            store.fail_cell(run_id, cell.id, INTERRUPTED, {"requests": len(load.records)})
        raise KeyboardInterrupt
    for position, (cell, load, template) in enumerate(loads):
        events.step_started(cell, "summary")
        # the group's one drive (its warm-up included) is booked on its first cell, as a local group's load
        booked_s = drive_s if position == 0 else 0.0
        try:
            ok = _finish(cell, load, template, driver, plan, store, run_id, events, quality, booked_s, watches)
        except KeyboardInterrupt:  # while scoring: this cell and those not summarised yet are measured on --resume
            for unfinished, _, _ in loads[position:]:
                store.fail_cell(run_id, unfinished.id, INTERRUPTED)
            raise
        except Exception as exc:  # noqa: BLE001 - as a local cell's summary step: it fails with its cause, others go on
            fail_cell(store, run_id, cell, exc, events, stage="summary")
            ok = False
        failed += not ok
    return failed


REQUEST_FAILED = "RequestsFailed"
"""The error type of an endpoint cell failed by its requests' errors (`request_failure`)."""

_HINTS = {
    "connect": "check the endpoint's URL and that the server is up",
    "http_4xx": "check the endpoint's URL, model name and API key",
    "rate_limited": "lower the load or raise the provider's rate limit",
    "first_byte_timeout": "the server is slow to answer: lower the load or raise the endpoint's timeouts",
    "idle_timeout": "the server is slow to answer: lower the load or raise the endpoint's timeouts",
    "total_timeout": "the server is slow to answer: lower the load or raise the endpoint's timeouts",
}


def request_failure(records: list[dict[str, Any]], stopped: str | None, max_error_rate: float) -> str | None:
    """Why an endpoint cell failed by its requests, or None when it did not.

    It failed when no request succeeded, or when its error share passed `max_error_rate`: the
    driver stopped it early for that (`stopped`), or the share of its records that failed is
    above it at the end. The message names the error classes with their counts, most frequent
    first, and a hint for the most frequent one.
    """
    failed = Counter(r["error"]["class"] for r in records if r["error"] is not None)
    total = len(records)
    if total and not failed:
        return None
    if not total:
        return "no request was measured; check the endpoint's URL and key"
    most = failed.most_common()
    first = next(r["error"] for r in records if r["error"] is not None and r["error"]["class"] == most[0][0])
    said = " ".join(str(first.get("message") or "").split())[:200]
    details = (
        ", ".join(f"{count} {kind}" for kind, count in most)
        + f"; {_HINTS.get(most[0][0], 'see the records for each error')}"
        + (f" (first {most[0][0]}: {said})" if said else "")
    )
    if sum(failed.values()) == total:
        return f"every request failed: {details}"
    share = sum(failed.values()) / total
    if share > max_error_rate:
        return f"error rate {share:.2f} passed measure.max_error_rate {max_error_rate:g}: {details}"
    if stopped is not None:  # the share passed it while the load ran, and the cell stopped short of its runs
        return f"{stopped}: {details}"
    return None


SERVED_HERE = "the server runs on this machine: its CPU time is part of what is measured"
"""Why a watch that sees other processes does not count against an endpoint on this machine's loopback."""


def _stability(ok_records: list[dict[str, Any]], url: str, watches: OpenWatches) -> dict[str, Any]:
    """The cell's stability (`metrics.stability`) from its successful requests' e2e_s and what the drive's
    window watches saw; those that see other processes do not count against a server on this machine's
    loopback address."""
    here = served_here(url)
    return stability(
        "e2e_s",
        [v for v in METRICS["e2e_s"].values(ok_records) if v is not None],
        watches.readings(),
        not_counted=dict.fromkeys(watches.seeing_other_processes(), SERVED_HERE) if here else None,
    )


def _finish(
    cell: Cell,
    load: TargetLoad,
    template: str,
    driver: Driver,
    plan: Plan,
    store: CellSink,
    run_id: str,
    events: RunEvents,
    quality: CellQuality,
    drive_s: float,
    watches: OpenWatches,
) -> bool:
    """Summarise, score and store one cell; False when it is stored failed by its requests' errors."""
    workload = plan.workload_for(cell)
    where = f"run {run_id}, cell {cell.id}"
    ok_records = [r for r in load.records if r["error"] is None]
    failure = request_failure(load.records, load.stopped, cell.spec.measure.max_error_rate)
    started = time.perf_counter()
    if failure is None:
        scores, scoring_info = quality.score(cell.spec.workload.task, ok_records, workload.samples, where)
    else:  # a failed cell's outputs are not scored: its figures stay visible, its quality would mislead
        scores, scoring_info = {}, {"not_scored": f"the cell failed: {failure}"}
    scoring_s = time.perf_counter() - started
    summary: CellSummary = (
        {
            **summarize_records(load.records),
            **load_figures(load.records, cell.spec.scenario, driver.loop_lag_s),
            **scores,
        }
        if load.records
        else {}
    )
    target = cell.spec.target
    assert isinstance(target, EndpointTarget)
    info = {
        "target": load.name,
        "endpoint": {
            "preset": target.preset,
            "url": load.endpoint.url,
            "model_id": PRESETS[target.preset].model_id(target.model, target.provider),
        },
        "stopped_early": load.stopped,
        "warmup_errors": load.warmup_errors,
        "prompt_template": template,
        "prompt_hash": prompt_hash(template, system_text(cell.spec.workload.system_prompt)),
        "system_prompt": system_text(cell.spec.workload.system_prompt),
        "samples": len(workload.samples),
        "requests": len(load.records),
        "clock": {"epoch_perf_counter_ns": driver.epoch_ns, "epoch_unix_ns": driver.epoch_unix_ns},
        "event_loop_lag_s": tail(driver.loop_lag_s),
        "quality": scoring_info,
        "dataset": workload.provenance,
        "failed_samples": workload.failed,
        "time_s": {"timed": drive_s, "scoring": scoring_s},
        "stability": _stability(ok_records, load.endpoint.url, watches),
    }
    if failure is not None:  # stored failed with what it measured: the table shows why, --resume measures it again
        error = {"type": REQUEST_FAILED, "message": failure}
        store.fail_cell(run_id, cell.id, error, {**info, "failed_at": "measure"}, summary)
        events.cell_finished(cell, "failed", f"{REQUEST_FAILED}: {failure}")
        return False
    store.finish_cell(run_id, cell.id, summary, info)
    events.cell_finished(cell, "ok", load.stopped)
    return True
