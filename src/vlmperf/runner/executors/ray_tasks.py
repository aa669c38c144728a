"""The `ray` executor: each group of cells a Ray task, on a cluster or on a local runtime.

A task asks for what its group needs: `executor.gpus` GPUs (default one for a local target on
cuda, none otherwise), `executor.cpus` CPUs and, when set, `executor.memory_gb` of memory; Ray
runs it on a node that has them. The task streams its messages back as a Ray generator while it
measures (batches of messages, as they come), so the driver stores results as they finish. Ray's
own retries are off (`max_retries=0`): the supervisor restarts a lost worker's unfinished cells
itself, charging the cell that was running, so resume and retries behave as in the `process`
executor.

The cluster: `executor.ray_address`, else `RAY_ADDRESS`, else a local runtime started here with
loopback addresses only (it serves this run alone and stops with it). A runtime the caller
started already (`ray.init` in a notebook) is used as it is and left running.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from vlmperf.backends.registry import target_kind_of
from vlmperf.config.spec import Executor
from vlmperf.errors import InputError
from vlmperf.runner.executors.messages import LAST, GroupJob, Message, run_job
from vlmperf.runner.executors.supervise import Ended

GIB = 1 << 30
BATCH_WAIT_S = 0.05
"""How long a task gathers messages into one streamed batch (each yield is one Ray object)."""


def group_task(job: GroupJob) -> Iterator[list[Message]]:
    """The task's body: measure the group in a thread, yield its messages in batches until the last."""
    messages: queue.SimpleQueue = queue.SimpleQueue()
    worker = threading.Thread(target=run_job, args=(job, messages.put), name="vlmperf group", daemon=True)
    worker.start()
    while True:
        batch = [messages.get()]
        deadline = time.monotonic() + BATCH_WAIT_S
        while not isinstance(batch[-1], LAST) and (left := deadline - time.monotonic()) > 0:
            try:
                batch.append(messages.get(timeout=left))
            except queue.Empty:
                break
        yield batch
        if isinstance(batch[-1], LAST):
            break
    worker.join()


def resources(job: GroupJob, settings: Executor) -> dict[str, Any]:
    """The Ray resources one group's task asks for (see the module docstring)."""
    cell = job.cells[0]
    on_gpu = str(target_kind_of(cell).device(cell.spec.target)).startswith("cuda")
    asked: dict[str, Any] = {
        "num_cpus": settings.cpus,
        "num_gpus": settings.gpus if settings.gpus is not None else (1 if on_gpu else 0),
    }
    if settings.memory_gb is not None:
        asked["memory"] = int(settings.memory_gb * GIB)
    return asked


def connect(settings: Executor) -> bool:
    """Join the configured cluster or start a local runtime; True when this run started it (and stops it)."""
    address = settings.ray_address or os.environ.get("RAY_ADDRESS")
    if not address:  # before Ray is imported: it reads these when it loads
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    try:
        import ray
    except ImportError as exc:
        raise InputError("executor ray needs Ray: pip install 'vlmperf[ray]'") from exc
    if ray.is_initialized():
        return False
    if address:
        try:
            ray.init(address=address, log_to_driver=False, configure_logging=False)
        except ConnectionError as exc:
            raise InputError(
                f"no Ray cluster answers at {address} ({exc}): start one (`ray start --head` on its head node) "
                "or leave executor.ray_address and RAY_ADDRESS unset for a local runtime"
            ) from None
        return True
    # a runtime for this run alone: loopback addresses only, no usage report sent anywhere
    ray.init(_node_ip_address="127.0.0.1", include_dashboard=False, log_to_driver=False, configure_logging=False)
    return True


@dataclass
class TaskHandle:
    stream: Any
    """The task's ObjectRefGenerator."""
    stopped: tuple[str, str] | None = None


class RayLauncher:
    kind = "ray"
    parallel = None

    def __init__(self, settings: Executor) -> None:
        import ray

        self._settings = settings
        self._started_here = connect(settings)
        self._task = ray.remote(group_task)

    def launch(self, job: GroupJob) -> TaskHandle:
        name = f"vlmperf group {job.cells[0].id}"
        options = dict(name=name, max_retries=0, retry_exceptions=False, **resources(job, self._settings))
        return TaskHandle(self._task.options(**options).remote(job))

    def wait(self, handles: list[TaskHandle], timeout: float) -> list[tuple[TaskHandle, list[Message] | Ended]]:
        import ray

        streams = [h.stream for h in handles]
        ready, _ = ray.wait(streams, num_returns=len(streams), timeout=timeout)
        news: list[tuple[TaskHandle, list[Message] | Ended]] = []
        for handle in handles:
            if not any(r is handle.stream for r in ready):
                continue
            try:
                news.append((handle, ray.get(next(handle.stream))))
            except StopIteration:
                news.append((handle, Ended(None)))
            except ray.exceptions.RayError as exc:
                news.append((handle, self._ended(handle, exc)))
        return news

    def _ended(self, handle: TaskHandle, exc: Exception) -> Ended:
        import ray.exceptions as errors

        if handle.stopped is not None:
            return Ended(handle.stopped[0], handle.stopped[1], retry=False)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if isinstance(exc, errors.OutOfMemoryError):
            return Ended(f"Ray's memory monitor killed its worker: {first}", "MemoryLimit", retry=False)
        if isinstance(exc, errors.RayTaskError):
            return Ended(f"its Ray task raised: {first}", "TaskError", retry=False)
        return Ended(f"its Ray worker was lost ({type(exc).__name__}: {first})", "WorkerLost")

    def stop(self, handle: TaskHandle, cause: str, kind: str) -> None:
        import ray

        if handle.stopped is None:
            handle.stopped = (cause, kind)
            ray.cancel(handle.stream, force=True)

    def close(self) -> None:
        if self._started_here:
            import ray

            ray.shutdown()
