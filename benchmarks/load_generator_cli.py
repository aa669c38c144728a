"""Goals 1-3 of the load-generator benchmark run the real command: `python -m vlmperf run CONFIG`.

Everything a user's run does happens: the store writes every record (through its writer thread),
the cells are summarised and scored, and the progress display is drawn. Each run is made twice:
- `pipe`: stdout and stderr are pipes (CI, a script, `| tee`): rich draws no live display;
- `terminal`: the command runs inside a pseudo terminal (120 x 40, TERM=xterm-256color, colours
  on), so rich draws the progress bar as it would for a person at a terminal; the parent drains
  the terminal and counts its redraws (`\\r\\x1b[2K`, rich's return-and-erase before each frame).
The figures are then read back from the store the run wrote, as `vlmperf report` would.
"""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vlmperf.store.sqlite import Store

MODES = ("pipe", "terminal")
TERMINAL_SIZE = (40, 120)
REDRAW = b"\r\x1b[2K"
RUN_TIMEOUT_S = 600


@dataclass
class StoredCell:
    swept: dict[str, Any]
    status: str
    summary: dict[str, Any]
    info: dict[str, Any]
    records: list[dict[str, Any]]


@dataclass
class CliRun:
    mode: str
    returncode: int
    wall_s: float
    output_bytes: int
    redraws: int
    output_tail: str
    cells: list[StoredCell] = field(default_factory=list)

    def facts(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "returncode": self.returncode,
            "wall_s": self.wall_s,
            "output_bytes": self.output_bytes,
            "redraws": self.redraws,
        }


def _environment(mode: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR", "COLUMNS", "LINES", "TERM")}
    env["TERM"] = "xterm-256color" if mode == "terminal" else "dumb"
    return env


def _in_terminal(command: list[str]) -> tuple[int, bytes]:
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", *TERMINAL_SIZE, 0, 0))
    process = subprocess.Popen(
        command, stdin=slave, stdout=slave, stderr=slave, env=_environment("terminal"), start_new_session=True
    )
    os.close(slave)
    output = bytearray()
    try:
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child closed its end of the terminal
                break
            if not chunk:
                break
            output += chunk
        return process.wait(timeout=RUN_TIMEOUT_S), bytes(output)
    finally:
        os.close(master)
        if process.poll() is None:
            process.kill()


def _in_pipe(command: list[str]) -> tuple[int, bytes]:
    done = subprocess.run(
        command,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        env=_environment("pipe"),
        timeout=RUN_TIMEOUT_S,
        check=False,
    )
    return done.returncode, done.stdout + done.stderr


def run_vlmperf(config_text: str, mode: str, folder: Path) -> CliRun:
    """`vlmperf run` of this config in `mode`, and every cell of the run it stored."""
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "bench.yaml"
    config.write_text(config_text)
    out = folder / "results"
    command = [sys.executable, "-m", "vlmperf", "run", str(config), "--out", str(out)]
    started = time.perf_counter()
    returncode, output = (_in_terminal if mode == "terminal" else _in_pipe)(command)
    run = CliRun(
        mode,
        returncode,
        time.perf_counter() - started,
        len(output),
        output.count(REDRAW),
        output[-2000:].decode(errors="replace"),
    )
    if not (out / "vlmperf.db").is_file():
        return run
    with Store.open(out, create=False) as store:
        (stored,) = store.runs()
        for cell in store.cells(stored.id):
            records = store.records(stored.id, cell["id"])
            run.cells.append(StoredCell(cell["swept"], cell["status"], cell["metrics"], cell["info"], records))
    return run
