"""gpu_check's energy cross-check: NVML's energy per window against `nvidia-smi`'s sampled power.

vlmperf reads the GPU's cumulative energy counter (NVML) at the edges of each measured window. An
independent reading of the same windows: `nvidia-smi` samples the board's power every 100 ms into a
file, with its own timestamps, while the run goes on; afterwards each window's samples are
integrated over time (trapezoids, the edges interpolated) and compared with the counter's joules.
The two agree within a few percent when both are right; more than 10% apart is labelled, not failed
(nvidia-smi's `power.draw` is a 1-second average on recent drivers, so short windows smear; the
instantaneous `power.draw.instant` is used where the driver has it).

Window times come from the stored records: a window starts at its first timed run's
`started_unix_s` and lasts the reading's `duration_s`; `nvidia-smi` stamps samples with the same
system clock.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Any, Self

POWER_FIELDS = ("power.draw.instant", "power.draw")
"""Tried in order: the instantaneous reading where the driver has it, else the (averaged) default."""

WITHIN = 0.10
"""The label's band: |NVML / nvidia-smi - 1| at most this is "within 10%"."""


def power_field(gpu: str) -> str | None:
    """The first power field this driver answers with a number (None: no nvidia-smi or no power reading)."""
    if shutil.which("nvidia-smi") is None:
        return None
    for field in POWER_FIELDS:
        try:
            done = subprocess.run(
                ["nvidia-smi", f"--query-gpu={field}", "--format=csv,noheader,nounits", "-i", gpu],
                check=False,
                capture_output=True,
                text=True,
                timeout=20,
            )
        except (OSError, subprocess.SubprocessError):
            return None
        if (
            done.returncode == 0
            and _watts(done.stdout.strip().splitlines()[0] if done.stdout.strip() else "") is not None
        ):
            return field
    return None


class PowerSampler:
    """`nvidia-smi` writing `timestamp, power` every `period_ms` to a file, for as long as the `with` block runs.

    The sampler is its own process group, stopped at exit (SIGINT, as Ctrl-C stops `nvidia-smi -l`;
    SIGKILL after 5 s), so it never outlives the step.
    """

    def __init__(self, path: Path, gpu: str, field: str, period_ms: int = 100) -> None:
        self.path, self.gpu, self.field, self.period_ms = path, gpu, field, period_ms
        self._proc: subprocess.Popen | None = None

    def __enter__(self) -> Self:
        cmd = [
            "nvidia-smi",
            f"--query-gpu=timestamp,{self.field}",
            "--format=csv,noheader,nounits",
            "-lms",
            str(self.period_ms),
            "-i",
            self.gpu,
            "-f",
            str(self.path),
        ]
        self._proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        return self

    def __exit__(self, *exc: object) -> None:
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _watts(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None  # "[N/A]", "[Not Supported]", a cut line


def parse_timestamp(text: str) -> float | None:
    """nvidia-smi's `timestamp` ("2025/01/31 12:00:00.123", local time) as Unix seconds."""
    for fmt in ("%Y/%m/%d %H:%M:%S.%f", "%Y/%m/%d %H:%M:%S"):
        try:
            return dt.datetime.strptime(text.strip(), fmt).timestamp()
        except ValueError:
            continue
    return None


def read_samples(path: Path) -> list[tuple[float, float]]:
    """(unix_s, watts) of every complete line the sampler wrote, in time order."""
    samples = []
    text = path.read_text(errors="replace") if path.is_file() else ""
    for line in text.splitlines():
        stamp, _, watts = line.rpartition(",")
        t, w = parse_timestamp(stamp), _watts(watts.strip())
        if t is not None and w is not None:
            samples.append((t, w))
    return sorted(samples)


def integrate_j(samples: list[tuple[float, float]], start: float, end: float) -> float | None:
    """Joules between `start` and `end`: the power samples joined by straight lines, integrated
    (trapezoids), with the power at each edge interpolated. None when the samples do not cover the span."""
    if end <= start or len(samples) < 2 or samples[0][0] > start or samples[-1][0] < end:
        return None
    total = 0.0
    for (t0, p0), (t1, p1) in itertools.pairwise(samples):
        a, b = max(t0, start), min(t1, end)
        if b <= a or t1 <= t0:
            continue
        pa = p0 + (p1 - p0) * (a - t0) / (t1 - t0)
        pb = p0 + (p1 - p0) * (b - t0) / (t1 - t0)
        total += (pa + pb) / 2 * (b - a)
    return total


def energy_windows(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The measured windows of stored records: start, end and NVML joules of each window that has a reading.

    A window's reading sits on its last record, with `runs` the window's record count; its records
    are the `runs` records of the cell ending there (records of a cell are numbered in order).
    """
    by_cell: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        by_cell.setdefault(record["cell_id"], []).append(record)
    windows = []
    for cell_id, rows in by_cell.items():
        rows.sort(key=lambda r: r["seq"])
        for i, row in enumerate(rows):
            energy = row.get("energy")
            if not energy or energy.get("energy_j") is None:
                continue
            first = rows[max(0, i + 1 - int(energy.get("runs") or 1))]
            start = float(first["started_unix_s"])
            windows.append(
                {
                    "cell": cell_id,
                    "window": energy.get("window"),
                    "runs": energy.get("runs"),
                    "start_unix_s": start,
                    "duration_s": energy["duration_s"],
                    "end_unix_s": start + energy["duration_s"],
                    "nvml_j": energy["energy_j"],
                    "nvml_power_w": energy.get("power_w"),
                    "idle_power_w": energy.get("idle_power_w"),
                }
            )
    return windows


def compare(windows: list[dict[str, Any]], samples: list[tuple[float, float]]) -> dict[str, Any]:
    """Each window's NVML joules against the integral of the sampled power over the same span, and the totals."""
    rows = []
    for window in windows:
        smi = integrate_j(samples, window["start_unix_s"], window["end_unix_s"])
        ratio = window["nvml_j"] / smi if smi else None
        rows.append(
            {
                **window,
                "smi_j": smi,
                "ratio_nvml_over_smi": ratio,
                "within_10pct": None if ratio is None else abs(ratio - 1) <= WITHIN,
            }
        )
    compared = [r for r in rows if r["smi_j"]]
    nvml_total = sum(r["nvml_j"] for r in compared)
    smi_total = sum(r["smi_j"] for r in compared)
    ratio = nvml_total / smi_total if smi_total else None
    return {
        "windows": rows,
        "windows_compared": len(compared),
        "nvml_total_j": nvml_total if compared else None,
        "smi_total_j": smi_total if compared else None,
        "ratio_nvml_over_smi": ratio,
        "within_10pct": None if ratio is None else abs(ratio - 1) <= WITHIN,
        "samples": len(samples),
        "sample_period_s": _median_gap(samples),
    }


def _median_gap(samples: list[tuple[float, float]]) -> float | None:
    gaps = sorted(b[0] - a[0] for a, b in itertools.pairwise(samples))
    return gaps[len(gaps) // 2] if gaps else None
