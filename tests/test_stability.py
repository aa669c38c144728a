"""Figures that say when not to trust them: each cell's stability (`metrics.stability`).

The CPU meter is checked against a scripted /proc/stat (exact arithmetic: a quiet machine is not
flagged, a busy one is), then for real: a cell measured while a child process burns a CPU beside
it is flagged `contended` (generous bounds; this machine is shared, so a real "quiet" run could
be anything). The GPU meter reads a pynvml-shaped fake; the verdicts are checked on
values chosen to sit on either side of each threshold; compare withholds its judgement between
flagged cells unless asked.
"""

from __future__ import annotations

import subprocess
import sys
import types

import numpy as np
import pynvml
import pytest

import vlmperf.api as vp
from vlmperf.backends.endpoint.resolve import served_here
from vlmperf.meters.cpu_contention import CONTENDED_SHARE, CpuContention, busy_seconds
from vlmperf.meters.gpu_clock_watch import GpuClockWatch
from vlmperf.metrics.stability import stability
from vlmperf.report import compare as cmp
from vlmperf.report.tables import stability_text, summary_table, wide_rows

from fixtures.nvml_driver import NO_DRIVER

TICK = 100  # Linux's USER_HZ


def stat_text(cpu_ticks: dict[int, tuple[int, ...]]) -> str:
    lines = ["cpu  1 2 3 4 5 6 7 8 0 0"]  # the all-CPU line is never read: only this process's CPUs count
    lines += [f"cpu{i} " + " ".join(str(v) for v in ticks) for i, ticks in cpu_ticks.items()]
    return "\n".join([*lines, "intr 12345", "ctxt 999"]) + "\n"


def test_busy_time_counts_user_nice_system_irq_softirq_steal_of_the_listed_cpus_only():
    #          user nice system idle iowait irq softirq steal guest guest_nice
    text = stat_text({0: (100, 10, 50, 9000, 30, 1, 2, 7, 40, 0), 1: (500, 0, 0, 0, 0, 0, 0, 0, 0, 0)})
    assert busy_seconds(text, {0}) == pytest.approx((100 + 10 + 50 + 1 + 2 + 7) / TICK)
    assert busy_seconds(text, {0, 1}) == pytest.approx((170 + 500) / TICK)


def test_other_processes_time_is_busy_time_less_its_own_over_the_windows_capacity():
    readings = iter(
        [
            stat_text({0: (0,) * 10, 1: (0,) * 10}),
            stat_text({0: (0,) * 10, 1: (0,) * 10}),  # construction, before
            stat_text({0: (30, 0, 0, 70, 0, 0, 0, 0, 0, 0), 1: (80, 0, 0, 20, 0, 0, 0, 0, 0, 0)}),  # after: 1.1 s busy
        ]
    )
    own = iter([0.0, 0.5])  # this process: 0.5 s of it
    wall = iter([10.0, 11.0])  # a window of one second
    contention = CpuContention(
        read_stat=lambda: next(readings), own_cpu=lambda: next(own), cpus={0, 1}, clock=lambda: next(wall)
    )
    contention.before()
    contention.after()
    figures = contention.reading()
    assert figures["other_cpu_s"] == pytest.approx(0.6) and figures["own_cpu_s"] == pytest.approx(0.5)
    assert figures["wall_s"] == 1.0 and figures["other_cpu_share"] == pytest.approx(0.6 / 2)
    assert figures["windows"] == 1 and figures["cpus"] == 2


def test_without_proc_stat_contention_is_not_measured_and_says_why():
    def missing() -> str:
        raise FileNotFoundError("/proc/stat")

    contention = CpuContention(read_stat=missing, cpus={0})
    contention.before()
    contention.after()
    assert contention.reading() is None and "no /proc/stat" in contention.why_none


def quiet_values(n: int = 40, spread: float = 0.01) -> list[float]:
    return list(np.random.default_rng(1).normal(0.1, 0.1 * spread, n))


def test_a_steady_quiet_cell_has_no_flags():
    verdict = stability("latency_s", quiet_values(), {"contention": {"other_cpu_share": 0.02, "cpus": 2}})
    assert verdict["flags"] == [] and verdict["reasons"] == {}
    assert verdict["cv"] == pytest.approx(0.01, rel=0.3) and verdict["p50_ci95_rel_width"] < 0.05


def test_a_latency_that_varies_is_noisy_and_says_by_how_much():
    verdict = stability("latency_s", quiet_values(spread=0.3), {})
    assert verdict["flags"] == ["noisy"] and "coefficient of variation" in verdict["reasons"]["noisy"]


def test_a_wide_median_interval_alone_is_noisy():
    """Five values, CV under 10%, but the median's interval wider than 5% of it: too few runs to pin it."""
    values = [0.100, 0.108, 0.093, 0.112, 0.096]
    verdict = stability("latency_s", values, {})
    assert verdict["cv"] < 0.10 and verdict["p50_ci95_rel_width"] > 0.05
    assert verdict["flags"] == ["noisy"] and "interval of its median" in verdict["reasons"]["noisy"]


def test_contention_over_the_threshold_flags_unless_the_server_is_measured_here():
    busy = {"contention": {"other_cpu_share": CONTENDED_SHARE + 0.01, "cpus": 2}}
    assert stability("e2e_s", quiet_values(), busy)["flags"] == ["contended"]
    here = stability("e2e_s", quiet_values(), busy, not_counted={"contention": "the server"})
    assert here["flags"] == [] and here["contention_not_counted"] == "the server"
    at_threshold = {"contention": {"other_cpu_share": CONTENDED_SHARE, "cpus": 2}}
    assert stability("e2e_s", quiet_values(), at_threshold)["flags"] == []


def test_too_few_values_give_no_figures_and_no_flag():
    verdict = stability("latency_s", [0.1], {})
    assert verdict["cv"] is None and verdict["p50_ci95"] is None and verdict["flags"] == []


class FakeClocksNvml(types.SimpleNamespace):
    """One GPU whose reasons and SM clock change from reading to reading."""

    def __init__(self, masks: list[int], clocks: list[int]) -> None:
        super().__init__(**{k: v for k, v in vars(pynvml).items() if k.startswith(("NVML", "nvmlClocks"))})
        self.masks, self.clocks, self.active = iter(masks), iter(clocks), 0

    def nvmlInit(self):
        self.active += 1

    def nvmlShutdown(self):
        self.active -= 1

    def nvmlDeviceGetHandleByPciBusId(self, address):
        return "gpu"

    def nvmlDeviceGetMaxClockInfo(self, handle, kind):
        return 1980

    def nvmlDeviceGetClockInfo(self, handle, kind):
        return next(self.clocks)

    def nvmlDeviceGetCurrentClocksEventReasons(self, handle):
        return next(self.masks)


def _props(index):
    return types.SimpleNamespace(pci_domain_id=0, pci_bus_id=0x41, pci_device_id=0, uuid="x")


def test_a_power_cap_seen_at_a_window_edge_throttles_the_cell_and_idle_does_not():
    idle, cap = pynvml.nvmlClocksEventReasonGpuIdle, pynvml.nvmlClocksEventReasonSwPowerCap
    fake = FakeClocksNvml([idle, 0, idle, cap], [1980, 1980, 1980, 1410])
    watch = GpuClockWatch("cuda:0", nvml=fake, device_properties=_props)
    for _ in range(2):
        watch.before()
        watch.after()
    watch.close()
    seen = watch.reading()
    assert seen == {
        "samples": 4,
        "reasons_seen": ["gpu_idle", "sw_power_cap"],
        "throttle_reasons": ["sw_power_cap"],
        "sm_clock_mhz": {"min": 1410, "max": 1980},
        "sm_clock_max_mhz": 1980,
    }
    assert fake.active == 0, "NVML is let go"
    verdict = stability("latency_s", quiet_values(), {"gpu_clocks": seen})
    assert verdict["flags"] == ["throttled"] and "sw_power_cap" in verdict["reasons"]["throttled"]
    only_idle = FakeClocksNvml([idle, idle], [1980, 1980])
    watch = GpuClockWatch("cuda:0", nvml=only_idle, device_properties=_props)
    watch.before(), watch.after()
    assert stability("latency_s", quiet_values(), {"gpu_clocks": watch.reading()})["flags"] == []


@pytest.mark.skipif(NO_DRIVER, reason="needs an NVIDIA driver and a GPU")
def test_real_gpu_clock_watch():
    watch = GpuClockWatch("cuda:0")
    watch.before(), watch.after()
    watch.close()
    seen = watch.reading()
    assert seen["samples"] == 2 and seen["sm_clock_max_mhz"] >= seen["sm_clock_mhz"]["max"] > 0
    assert set(seen["throttle_reasons"]) <= set(seen["reasons_seen"])


def test_without_a_driver_the_gpu_watch_says_why():
    if not NO_DRIVER:
        pytest.skip("this machine has an NVIDIA driver")
    watch = GpuClockWatch("cuda:0")
    watch.before()
    assert watch.reading() is None and watch.why_none


def test_on_a_cpu_the_gpu_watch_reads_nothing():
    watch = GpuClockWatch("cpu")
    watch.before()
    assert watch.reading() is None and "not a CUDA device" in watch.why_none


@pytest.mark.parametrize(
    "url, here",
    [
        ("http://127.0.0.1:8000/v1/chat/completions", True),
        ("http://localhost:8000/v1", True),
        ("http://[::1]:8000/v1", True),
        ("http://127.8.0.3/v1", True),
        ("https://router.huggingface.co/v1/chat/completions", False),
        ("http://10.0.0.5:8000/v1", False),
    ],
)
def test_a_server_on_this_machines_loopback_is_served_here(url, here):
    assert served_here(url) is here


# ---------------------------------------------------------------------------------------------
# for real: a CPU-burning neighbour

BURN = "import time\nend = time.time() + 120\nwhile time.time() < end:\n    pass\n"
"""A child that keeps one CPU busy, for two minutes at most (it is killed long before)."""
QUICK = [
    "measure.min_runs=12",
    "measure.warmup_runs=1",
    "measure.min_duration_s=0.5",
    "generation.max_new_tokens=3",
    "workload.limit=3",
    "measure.flops=false",
    "workload.task=vqa",
    "sweep.grid={}",
]


def _measured(out, name: str) -> dict:
    outcome = vp.run(overrides=[*QUICK, f"name={name}"], out=out)
    (cell,) = vp.report(outcome.run_id, out=out)["cells"]
    return cell


@pytest.mark.slow
def test_a_cell_measured_beside_a_cpu_burner_is_contended(results_dir):
    """One CPU kept busy beside the cell is a third or more of a 2-CPU machine's capacity whatever
    else runs (the burner's share alone, less what the cell's own threads take from it). A quiet
    cell is not flagged: checked on scripted counters above, since this machine is shared."""
    burner = subprocess.Popen([sys.executable, "-c", BURN])
    try:
        burned = _measured(results_dir, "burned")
    finally:
        burner.kill()
        burner.wait(timeout=30)
    stable = burned["stability"]
    assert "contended" in stable["flags"] and "other processes used" in stable["reasons"]["contended"]
    cpus = stable["contention"]["cpus"]
    assert stable["contention"]["other_cpu_share"] > min(0.25, 0.5 / cpus), stable["contention"]
    assert stable["metric"] == "latency_s" and stable["n"] >= 12 and stable["contention"]["windows"] >= 12


# ---------------------------------------------------------------------------------------------
# where it shows: the table, the CSV, compare


def _document(flags: list[str] | None, cv: float = 0.02) -> dict:
    stable = (
        None
        if flags is None
        else {"cv": cv, "flags": flags, "p50_ci95_rel_width": 0.01, "contention": {"other_cpu_share": 0.5}}
    )
    cell = {
        "id": "c1",
        "config": {"target.kind": "local", "scenario.batch_size": 1},
        "swept": {},
        "status": "ok",
        "error": None,
        "metrics": {"latency_s": {"p50": 0.1}},
        "stability": stable,
        "info": {},
    }
    return {"run": {"id": "r1", "name": "t", "status": "complete", "manifest": {}}, "cells": [cell]}


def test_the_table_and_csv_show_the_cv_and_flags():
    header, rows = summary_table(_document(["noisy", "contended"], cv=0.234))
    assert header[-1] == "stability" and rows[0][-1] == "cv 23.4% noisy contended"
    header, rows = summary_table(_document(None))
    assert "stability" not in header, "a run stored before stability was kept has no such column"
    assert stability_text(None) == "-"
    _, wide = wide_rows(_document(["contended"]))
    assert wide[0]["stability.flags"] == "contended" and wide[0]["stability.other_cpu_share"] == 0.5


def _compared(flags_a, flags_b, allow=False):
    doc_a, doc_b = _document(flags_a), _document(flags_b)
    doc_b["run"]["id"] = "r2"
    slow = [{"cell_id": "c1", "latency_s": 0.2 + i * 1e-4, "batch_size": 1} for i in range(20)]
    fast = [{"cell_id": "c1", "latency_s": 0.1 + i * 1e-4, "batch_size": 1} for i in range(20)]
    return cmp.compare_runs(doc_a, fast, doc_b, slow, ["latency_s"], allow_unstable=allow)["rows"][0]


def test_compare_withholds_its_judgement_between_unstable_cells_unless_asked():
    judged = _compared([], [])
    assert judged["worse"] and judged["judged"] and judged["unstable"] is None
    withheld = _compared([], ["contended"])
    assert not withheld["worse"] and not withheld["significant"] and not withheld["judged"]
    assert withheld["verdict"].startswith("not judged: B contended") and "--allow-unstable" in withheld["verdict"]
    assert withheld["delta_pct"] == pytest.approx(judged["delta_pct"]), "its figures stay"
    allowed = _compared(["noisy"], [], allow=True)
    assert allowed["worse"] and allowed["judged"] and allowed["unstable"] == {"a": ["noisy"], "b": []}


def test_the_html_page_lists_each_flag_with_why_escaped():
    from vlmperf.report.html.sections import stability_note

    document = _document(["noisy"])
    document["cells"][0]["stability"]["reasons"] = {"noisy": "latency_s varied <b>a lot</b>"}
    note = stability_note(document)
    assert 'id="stability"' in note and "cell c1 noisy: latency_s varied &lt;b&gt;a lot&lt;/b&gt;" in note
    assert stability_note(_document([])) == "" and stability_note(_document(None)) == ""
