"""Window watches: one registry (`vlmperf.meters.watches`), so a meter that watches a cell's timed windows
is a module and one entry.

A toy watch, registered in the registry by a fixture and removed after each test, flags a local cell and an
endpoint cell end to end with no change to the measurement loops or to `metrics.stability` (which name no
watch: checked on their source). Which watches a device opens, how they nest around a window, how readings
become flags in the registry's order, and what the registry refuses are checked on their own. The watches'
own figures are tested in tests/test_stability.py (scripted counters, a fake NVML, a real CPU burner).
"""

from __future__ import annotations

import ast
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import vlmperf.api as vp
from vlmperf.meters.watches import WATCHES, open_watches, register
from vlmperf.meters.window_watch import Reading, Watch
from vlmperf.metrics.stability import stability

from fixtures import scripted_server as ss
from fixtures.cli import quick_overrides

SOURCE = Path(__file__).resolve().parents[1] / "src" / "vlmperf"
LOOPS_AND_VERDICTS = ("backends/local/measure.py", "backends/endpoint/group.py", "metrics/stability.py")


class ToyWatch:
    """Counts windows and notes the wall clock at each edge; an edge out of order raises (the cell fails)."""

    def __init__(self, device: str | None) -> None:
        self.device, self.why_none = device, None
        self.edges: list[tuple[float, float]] = []
        self.opened_at: float | None = None
        self.closed = False

    def before(self) -> None:
        if self.opened_at is not None or self.closed:
            raise RuntimeError("before() twice, or after close()")
        self.opened_at = time.time()

    def after(self) -> None:
        if self.opened_at is None:
            raise RuntimeError("after() without before()")
        self.edges.append((self.opened_at, time.time()))
        self.opened_at = None

    def close(self) -> None:
        self.closed = True

    def reading(self) -> Reading | None:
        return {"windows": len(self.edges), "device": self.device} if self.edges else None


def toy_entry(opened: list[ToyWatch], key: str = "toy", *, sees_other_processes: bool = False) -> Watch:
    def open_toy(device: str | None) -> ToyWatch:
        opened.append(ToyWatch(device))
        return opened[-1]

    return Watch(
        key=key,
        flag=f"{key}ed",
        open=open_toy,
        applies=lambda device: True,
        verdict=lambda reading: f"the toy saw {reading['windows']} window(s)" if reading["windows"] else None,
        doc="windows counted by a toy",
        threshold="on any window",
        sees_other_processes=sees_other_processes,
    )


@pytest.fixture
def toys() -> Iterator[list[ToyWatch]]:
    """A toy watch in the registry for the test (removed after it); the list fills with each one opened."""
    opened: list[ToyWatch] = []
    entry = register(toy_entry(opened))
    try:
        yield opened
    finally:
        del WATCHES[entry.key]


def _within_edges(started_s: list[float], edges: list[tuple[float, float]]) -> bool:
    return all(any(opened <= t <= closed for opened, closed in edges) for t in started_s)


def test_a_registered_watch_flags_a_local_cell_without_a_change_to_the_loop(toys, results_dir):
    changes = {"measure.min_runs": 3, "workload.limit": 3, "measure.flops": False}
    outcome = vp.run(overrides=quick_overrides(changes), out=results_dir)
    (cell,) = vp.report(outcome.run_id, out=results_dir)["cells"]
    (toy,) = toys
    stable, windows = cell["stability"], cell["info"]["windows"]
    assert toy.device == "cpu" and toy.closed and windows >= 3
    assert stable["toy"] == {"windows": windows, "device": "cpu"}
    assert stable["flags"][-1] == "toyed" and stable["reasons"]["toyed"] == f"the toy saw {windows} window(s)"
    assert list(stable)[6:9] == ["contention", "gpu_clocks", "toy"], "readings in the registry's order"
    assert stable["contention"]["windows"] == windows, "the built-in watches still watch every window"
    started = list(vp.records_frame(outcome.run_id, out=results_dir)["started_unix_s"])
    assert len(started) == 3 and _within_edges(started, toy.edges), "each timed run lies inside a window's edges"


@pytest.mark.parametrize("sees_other_processes", [False, True])
def test_a_registered_watch_flags_an_endpoint_cell_unless_it_sees_a_server_here(sees_other_processes, tmp_path):
    """An endpoint's one drive is one window, with no device; a watch that sees other processes does not
    count against a server on loopback, as CPU contention does not."""
    opened: list[ToyWatch] = []
    entry = register(toy_entry(opened, sees_other_processes=sees_other_processes))
    config = tmp_path / "endpoint.yaml"
    try:
        with ss.ScriptedServer([ss.stream_reply(["a", "b"], 0.001)]) as server:
            config.write_text(
                f"target: {{kind: endpoint, preset: vllm, base_url: '{server.base_url}', model: tiny}}\n"
                "workload: {task: vqa, limit: 2}\nscenario: {kind: single-stream}\n"
                "measure: {min_runs: 3, warmup_runs: 0}\n"
            )
            outcome = vp.run(config, out=tmp_path / "out")
    finally:
        del WATCHES[entry.key]
    (cell,) = vp.report(outcome.run_id, out=tmp_path / "out")["cells"]
    (toy,) = opened
    stable = cell["stability"]
    assert toy.device is None and toy.closed and stable["toy"] == {"windows": 1, "device": None}
    started = [r / 1e9 for r in vp.records_frame(outcome.run_id, out=tmp_path / "out")["started_unix_ns"]]
    assert len(started) == 3 and _within_edges(started, toy.edges)
    assert "this machine" in stable["contention_not_counted"]
    if sees_other_processes:
        assert "toyed" not in stable["flags"] and stable["toy_not_counted"] == stable["contention_not_counted"]
    else:  # `noisy` may come first: this machine is shared
        assert stable["flags"][-1] == "toyed" and "toy_not_counted" not in stable


def test_flags_follow_noisy_then_the_registry_order(toys):
    readings = {
        "toy": {"windows": 2},
        "gpu_clocks": {"throttle_reasons": ["hw_slowdown"]},
        "contention": {"other_cpu_share": 0.9, "cpus": 2},
    }
    verdict = stability("latency_s", [0.1, 0.3, 0.1, 0.3, 0.2], readings)
    assert verdict["flags"] == ["noisy", "contended", "throttled", "toyed"]
    assert list(verdict)[-5:] == ["contention", "gpu_clocks", "toy", "flags", "reasons"]
    quiet = stability("latency_s", [0.1] * 5, {"toy": {"windows": 0}}, not_counted={"contention": "why"})
    assert quiet["flags"] == [] and quiet["toy"] == {"windows": 0} and quiet["contention"] is None
    assert stability("latency_s", [0.1] * 5, {})["toy"] is None, "a watch not opened for a cell reads null"


def test_a_reading_or_waiver_under_no_registered_watch_is_refused():
    with pytest.raises(ValueError, match="no window watch is registered under 'cpu_temp'"):
        stability("latency_s", [0.1], {"cpu_temp": {}})
    with pytest.raises(ValueError, match="'toy'"):
        stability("latency_s", [0.1], {}, not_counted={"toy": "why"})


def test_a_device_opens_the_watches_that_apply_nested_around_the_window(toys):
    assert open_watches("cpu").readings().keys() == {"contention", "toy"}
    assert open_watches(None).readings().keys() == {"contention", "toy"}, "an endpoint: no device here"
    on_gpu = open_watches("cuda:0")  # without a driver its GPU watch reads null with why, as before
    assert list(on_gpu.readings()) == ["contention", "gpu_clocks", "toy"]
    on_gpu.close()
    calls: list[str] = []
    second: list[ToyWatch] = []
    entry = register(toy_entry(second, "later"))
    try:
        watches = open_watches("cpu")
    finally:
        del WATCHES[entry.key]
    first, later = toys[-1], second[-1]
    for name, toy in (("toy", first), ("later", later)):
        for edge in ("before", "after"):
            setattr(toy, edge, lambda edge=edge, name=name: calls.append(f"{edge} {name}"))
    watches.before()
    watches.after()
    assert calls == ["before later", "before toy", "after toy", "after later"], "the first registered is innermost"


@pytest.mark.parametrize(
    "key, flag",
    [("contention", "other"), ("other", "contended"), ("flags", "other"), ("other", "noisy"), ("same", "same")],
)
def test_the_registry_refuses_a_watch_whose_names_are_taken(key, flag):
    clash = Watch(key, flag, lambda d: ToyWatch(d), lambda d: True, lambda r: None, "", "")
    with pytest.raises(ValueError, match="already named"):
        register(clash)
    assert key not in WATCHES or WATCHES[key].flag != flag


def test_the_loops_and_stability_name_no_watch():
    """Adding a watch changes none of them: they import only the registry."""
    meters = {"vlmperf.meters.cpu_contention", "vlmperf.meters.gpu_clock_watch"}
    for path in LOOPS_AND_VERDICTS:
        tree = ast.parse((SOURCE / path).read_text())
        imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        assert not imported & meters, f"{path} imports a watch's module"
