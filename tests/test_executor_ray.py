"""The `ray` executor on a real local Ray runtime, kept on loopback (2 CPUs).

A sweep measured by Ray gives the same cells, the same greedy outputs and the same schema as the
in-process executor; a Ray worker killed in the middle leaves every cell finished or failed with
its cause, and `--resume` completes the rest.
"""

from __future__ import annotations

import ipaddress
import os
import signal
from pathlib import Path

import pytest

import vlmperf.api as vp
from vlmperf.runner.events import Silent
from vlmperf.scoring.definitions import QUALITY_METRICS
from vlmperf.store.outputs import first_outputs
from vlmperf.store.sqlite import Store

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.slow

SWEEP = [
    "measure.min_runs=3",
    "measure.warmup_runs=1",
    "measure.min_duration_s=0",
    "measure.flops=false",
    "generation.max_new_tokens=6",
    "workload.limit=4",
    "target.threads=1",
    "sweep.grid.target.attn_implementation=[eager, sdpa]",
    "sweep.grid.scenario.batch_size=[1, 2, 4]",
]


@pytest.fixture(scope="module")
def ray_runtime(tmp_path_factory):
    """One local runtime for the module, on loopback only; workers share the module's model cache.
    Yields the sockets that were listening before it started."""
    cache = tmp_path_factory.mktemp("ray-cache")
    assert os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] == "0", "conftest sets it, before Ray is imported"
    saved = os.environ.get("VLMPERF_CACHE")
    os.environ["VLMPERF_CACHE"] = str(cache)  # before the runtime starts: its workers inherit it
    before = listening_addresses()
    ray.init(
        num_cpus=2, _node_ip_address="127.0.0.1", include_dashboard=False, log_to_driver=False, configure_logging=False
    )
    yield before
    ray.shutdown()
    if saved is None:
        os.environ.pop("VLMPERF_CACHE", None)
    else:
        os.environ["VLMPERF_CACHE"] = saved


def _outputs(out: Path, run_id: str) -> dict[str, dict[str, str]]:
    with Store.open(out, create=False) as store:
        return {c["id"]: first_outputs(store.records(run_id, c["id"]), c["id"]) for c in store.cells(run_id)}


def test_ray_gives_the_cells_outputs_and_schema_of_the_local_executor(ray_runtime, tmp_path):
    local = vp.run(overrides=SWEEP, out=tmp_path / "local")
    remote = vp.run(overrides=[*SWEEP, "executor.kind=ray"], out=tmp_path / "ray")
    assert (local.cells, local.failed, remote.cells, remote.failed) == (6, 0, 6, 0)
    cells_local = {c["id"]: c for c in vp.report(local.run_id, out=tmp_path / "local")["cells"]}
    cells_ray = {c["id"]: c for c in vp.report(remote.run_id, out=tmp_path / "ray")["cells"]}
    assert set(cells_local) == set(cells_ray)
    for cell_id, cell in cells_ray.items():
        assert cell["status"] == "ok"
        assert set(cell["metrics"]) == set(cells_local[cell_id]["metrics"])
        assert set(cell["info"]) == set(cells_local[cell_id]["info"])
        for metric in set(QUALITY_METRICS) & set(cell["metrics"]):  # scored by the driver, on the same outputs
            assert cell["metrics"][metric]["value"] == cells_local[cell_id]["metrics"][metric]["value"], metric
        where = cell["info"]["executor"]
        assert where["kind"] == "ray" and where["node_ip"] == "127.0.0.1" and where["pid"] != os.getpid()
        assert where["node_id"] == ray.get_runtime_context().get_node_id()
    assert _outputs(tmp_path / "ray", remote.run_id) == _outputs(tmp_path / "local", local.run_id)


def _parent(pid: int) -> int:
    """The parent's pid, from /proc/<pid>/stat (the field after the name, which may hold spaces and ')')."""
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def _descends_from(pid: int, ancestor: int) -> bool:
    """Whether `ancestor` is on `pid`'s chain of parents. The module's runtime is started from this
    process (its raylet is our child, each worker the raylet's), so this tells our workers from
    those of another test session running Ray on the same machine."""
    while pid > 1:
        pid = _parent(pid)
        if pid == ancestor:
            return True
    return False


def _group_workers() -> list[int]:
    """This session's processes running a vlmperf group task (Ray titles a worker after the task it runs)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            title = Path(f"/proc/{entry}/cmdline").read_bytes()
            if title.startswith(b"ray::vlmperf group") and _descends_from(int(entry), os.getpid()):
                found.append(int(entry))
        except (FileNotFoundError, ProcessLookupError):  # it ended while we looked: not a running worker
            continue
        except PermissionError:  # another user's process (hidden by /proc's hidepid): not one of ours
            continue
    return found


class KillAWorker(Silent):
    """Kills every Ray worker of this session running a group once the second record of the run arrives."""

    def __init__(self) -> None:
        self.records, self.killed = 0, []

    def record_measured(self, cell, seq) -> None:
        self.records += 1
        if self.records == 2:
            self.killed = _group_workers()
            for pid in self.killed:
                os.kill(pid, signal.SIGKILL)


def test_a_killed_worker_loses_nothing_and_resume_completes_the_run(ray_runtime, tmp_path):
    out = tmp_path / "results"
    events = KillAWorker()
    first = vp.run(overrides=[*SWEEP, "executor.kind=ray", "executor.max_retries=0"], out=out, events=events)
    assert events.killed, "no group worker was running to kill"
    cells = vp.report(first.run_id, out=out)["cells"]
    assert len(cells) == 6 and first.failed >= 1
    for cell in cells:
        assert cell["status"] in ("ok", "failed"), cell
        if cell["status"] == "failed":
            assert cell["error"]["type"] == "WorkerLost" and "Ray worker was lost" in cell["error"]["message"]
            assert cell["info"]["executor"]["pid"] in events.killed
    again = vp.run(overrides=[*SWEEP, "executor.kind=ray"], out=out, resume=True)
    assert again.run_id == first.run_id and again.skipped == 6 - first.failed and again.failed == 0
    assert all(c["status"] == "ok" for c in vp.report(first.run_id, out=out)["cells"])


def test_a_lost_workers_cell_is_tried_again_up_to_max_retries(ray_runtime, tmp_path):
    out = tmp_path / "results"
    events = KillAWorker()
    outcome = vp.run(overrides=[*SWEEP, "executor.kind=ray", "executor.max_retries=1"], out=out, events=events)
    assert events.killed and outcome.failed == 0


def listening_addresses() -> set[tuple[str, int]]:
    """(address, port) of every TCP socket listening on this machine, IPv4 and IPv6 (/proc/net/tcp*)."""
    found = set()
    for table, size in (("/proc/net/tcp", 4), ("/proc/net/tcp6", 16)):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            if state != "0A":  # LISTEN
                continue
            address, port = local.split(":")
            raw = bytes.fromhex(address)
            # the kernel prints each 32-bit word in host (little-endian) order
            ordered = b"".join(raw[i : i + 4][::-1] for i in range(0, size, 4))
            found.add((str(ipaddress.ip_address(ordered)), int(port, 16)))
    return found


def _loopback(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    mapped = getattr(ip, "ipv4_mapped", None)
    return ip.is_loopback or (mapped is not None and mapped.is_loopback)


def test_the_local_runtime_listens_on_loopback_only(ray_runtime):
    opened = listening_addresses() - ray_runtime  # what started listening since the runtime came up
    assert opened, "the runtime's own servers are seen (else this test could not fail)"
    outside = {(address, port) for address, port in opened if not _loopback(address)}
    assert not outside, f"Ray listens beyond loopback: {outside}"
