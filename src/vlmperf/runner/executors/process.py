"""The `process` executor: each group of cells in a child process of its own, one group at a time.

Each child is a fresh interpreter (`python -m vlmperf.runner.executors.child`: no CUDA context
or thread state is inherited, and the caller's script is not imported again); it measures its
group and sends every result through a pipe to the parent, which alone writes the store. A child
that exits, crashes or is killed ends only its own attempt; its CUDA memory goes back to the
driver when it exits, before the next group starts. With
`executor.memory_gb` the parent reads each child's resident memory (Linux /proc) at every poll
and kills it past the limit, the way a container's or Ray's memory monitor would.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import pickle
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from vlmperf.config.spec import Executor
from vlmperf.errors import ConfigError
from vlmperf.runner.executors.messages import GroupJob, Message
from vlmperf.runner.executors.supervise import Ended

GIB = 1 << 30
JOIN_S = 5.0
"""How long a child that closed its pipe may take to exit before it is killed."""


def resident_bytes(pid: int) -> int | None:
    """The process's resident set size from /proc/<pid>/status (None once it has gone)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


def exit_cause(code: int) -> str:
    """A child's exit code in words, with what to do about the usual ones."""
    if code >= 0:
        return f"its process exited with code {code}"
    number = -code
    try:
        name = signal.Signals(number).name
    except ValueError:  # a signal number Python has no name for
        name = f"signal {number}"
    if number == signal.SIGKILL:
        return (
            f"its process was killed by {name} (the kernel's out-of-memory killer does this: see `dmesg`; "
            "executor.memory_gb stops a group before that)"
        )
    return f"its process was killed by {name}"


@dataclass
class ChildHandle:
    process: subprocess.Popen
    connection: multiprocessing.connection.Connection
    job_file: str
    stopped: tuple[str, str] | None = None
    """(cause, kind) when the parent killed it."""
    closed: bool = False


class ProcessLauncher:
    kind = "process"
    parallel = 1

    def __init__(self, settings: Executor) -> None:
        self._limit = int(settings.memory_gb * GIB) if settings.memory_gb is not None else None
        if self._limit is not None and not os.path.exists("/proc/self/status"):
            raise ConfigError(
                "executor.memory_gb needs Linux's /proc to read a child's memory; leave it out on this system"
            )

    def launch(self, job: GroupJob) -> ChildHandle:
        with tempfile.NamedTemporaryFile(prefix="vlmperf-job-", suffix=".pickle", delete=False) as file:
            pickle.dump(job, file)  # the child deletes it once read
        receiver, sender = multiprocessing.Pipe(duplex=False)
        command = [sys.executable, "-m", "vlmperf.runner.executors.child", file.name, str(sender.fileno())]
        process = subprocess.Popen(command, pass_fds=(sender.fileno(),), stdin=subprocess.DEVNULL)
        sender.close()  # the child holds the only sending end: the pipe reads EOF once it exits
        return ChildHandle(process, receiver, file.name)

    def wait(self, handles: list[ChildHandle], timeout: float) -> list[tuple[ChildHandle, list[Message] | Ended]]:
        waiting = [h.connection for h in handles if not h.closed]
        if waiting:
            multiprocessing.connection.wait(waiting, timeout)
        news: list[tuple[ChildHandle, list[Message] | Ended]] = []
        for handle in handles:
            messages = self._drain(handle)
            self._check_memory(handle)
            if handle.closed:  # EOF: it exited, or is exiting after its last message (or it is made to)
                try:
                    handle.process.wait(JOIN_S)
                except subprocess.TimeoutExpired:
                    handle.process.kill()
                    handle.process.wait()
            exited = handle.process.poll() is not None
            if exited:
                messages += self._drain(handle)  # whatever is left in the pipe comes before the end
            if messages:
                news.append((handle, messages))
            if exited:
                news.append((handle, self._ended(handle)))
        return news

    def _drain(self, handle: ChildHandle) -> list[Message]:
        messages: list[Message] = []
        while not handle.closed and handle.connection.poll():
            try:
                messages.append(handle.connection.recv())
            except (EOFError, OSError):
                handle.closed = True
        return messages

    def _check_memory(self, handle: ChildHandle) -> None:
        if self._limit is None or handle.stopped or handle.process.poll() is not None:
            return
        rss = resident_bytes(handle.process.pid)
        if rss is not None and rss > self._limit:
            self.stop(
                handle,
                f"its process used {rss / GIB:.2f} GiB, past executor.memory_gb {self._limit / GIB:g}; it was killed",
                "MemoryLimit",
            )

    def _ended(self, handle: ChildHandle) -> Ended:
        Path(handle.job_file).unlink(missing_ok=True)  # a child that died before reading its job leaves it
        handle.connection.close()
        handle.closed = True
        if handle.stopped:
            return Ended(handle.stopped[0], handle.stopped[1], retry=False)
        code = handle.process.returncode
        return Ended(None if code == 0 else exit_cause(code))

    def stop(self, handle: ChildHandle, cause: str, kind: str) -> None:
        if handle.stopped is None:
            handle.stopped = (cause, kind)
        if handle.process.poll() is None:
            handle.process.kill()

    def close(self) -> None: ...
