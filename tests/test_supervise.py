"""The supervisor's judgement of how an attempt ended, against attempts scripted message by message.

The launcher here is a script: each attempt it starts plays back a list of steps (messages, then
an end), and the clock moves only when the script says, so charged time and timeouts are exact.
The real launchers (child processes, Ray tasks) are tested end to end in test_executor_*.py.
"""

from __future__ import annotations

import pytest

from vlmperf.config.loader import load_run_spec
from vlmperf.runner.events import Silent
from vlmperf.runner.executors import supervise
from vlmperf.runner.executors.messages import (
    CellFinished,
    Done,
    FinishCell,
    GroupError,
    StartCell,
    Started,
    StepStarted,
)
from vlmperf.runner.executors.supervise import Ended, Supervisor
from vlmperf.runner.plan import expand
from vlmperf.store.sqlite import Store

WHERE = {"kind": "scripted", "pid": 1}


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


class ScriptedLauncher:
    """Attempt n plays scripts[n]: a list of ("msgs", [...]), ("tick", seconds) or ("end", Ended)."""

    kind, parallel = "scripted", 1

    def __init__(self, scripts, clock):
        self.scripts, self.clock, self.launched, self.stopped = list(scripts), clock, [], []

    def launch(self, job):
        self.launched.append([c.id for c in job.cells])
        return {"script": list(self.scripts.pop(0)(job.cells)), "stopped": None}

    def wait(self, handles, timeout):
        (handle,) = handles
        if handle["stopped"]:
            return [(handle, Ended(*handle["stopped"], retry=False))]
        kind, value = handle["script"].pop(0)
        if kind == "tick":
            self.clock.now += value
            return []
        return [(handle, value)]

    def stop(self, handle, cause, kind):
        handle["stopped"] = handle["stopped"] or (cause, kind)
        self.stopped.append(kind)

    def close(self):
        pass


class Recorder(Silent):
    def __init__(self):
        self.finished = []

    def cell_finished(self, cell, status, error):
        self.finished.append((cell.id, status))


def started(cells):
    return ("msgs", [Started(WHERE)] + [StartCell("r", c.id) for c in cells])


def step(cell, stage):
    return ("msgs", [StepStarted(cell.id if cell else None, stage)])


def finish(cell):
    return (
        "msgs",
        [
            FinishCell("r", cell.id, {}, {"executor": WHERE}),
            CellFinished(cell.id, "ok", None),
        ],
    )


@pytest.fixture
def setup(tmp_path, monkeypatch):
    clock = Clock()
    monkeypatch.setattr(supervise.time, "monotonic", clock)
    spec = load_run_spec(None, ["sweep.grid.scenario.batch_size=[1, 2, 3]", "executor.kind=process"])
    cells = expand(spec)
    store = Store.open(tmp_path)
    store.create_run("r", "test", {})
    for position, cell in enumerate(cells):
        store.add_cell("r", cell.id, position, cell.config, cell.swept)

    def run(scripts, **settings):
        plan = type("PlanStub", (), {"cells": cells, "workloads": {}, "spec": spec})()
        launcher = ScriptedLauncher(scripts, clock)
        executor = spec.executor.model_copy(update=settings)
        events = Recorder()
        supervisor = Supervisor(launcher, executor, plan, store, "r", events)
        monkeypatch.setattr(supervise, "job_for", lambda cells, *a: type("Job", (), {"cells": cells})())
        failed = supervisor.run([cells])
        return failed, {c["id"]: c for c in store.cells("r")}, launcher, events

    yield cells, run
    store.close()


def crash_in(index):
    def script(cells):
        return [
            started(cells),
            step(None, "load"),
            step(cells[0], "warm-up"),
            step(cells[index], "measure"),
            ("end", Ended("its process exited with code 3")),
        ]

    return script


def succeed(cells):
    return [
        started(cells),
        step(None, "load"),
        *[finish(c) for c in cells],
        ("msgs", [Done(0)]),
        ("end", Ended(None)),
    ]


def test_a_crash_charges_the_busy_cell_and_the_others_start_again(setup):
    cells, run = setup
    failed, stored, launcher, _ = run([crash_in(1), crash_in(1), succeed], max_retries=1)
    assert failed == 1
    assert launcher.launched == [[c.id for c in cells]] * 2 + [[cells[0].id, cells[2].id]]
    assert stored[cells[1].id]["status"] == "failed"
    assert stored[cells[1].id]["error"]["message"] == "its process exited with code 3 (tried 2 times)"
    assert stored[cells[1].id]["info"] == {"failed_at": "measure", "executor": WHERE}
    assert [stored[c.id]["status"] for c in (cells[0], cells[2])] == ["ok", "ok"]


def test_a_crash_while_loading_charges_every_unfinished_cell(setup):
    cells, run = setup

    def crash_loading(cells):
        return [started(cells), step(None, "load"), ("end", Ended("its process was killed by SIGSEGV"))]

    failed, stored, launcher, _ = run([crash_loading], max_retries=0)
    assert failed == 3 and len(launcher.launched) == 1
    assert {c["error"]["type"] for c in stored.values()} == {"ProcessDied"}
    assert {c["info"]["failed_at"] for c in stored.values()} == {"load"}


def test_time_is_charged_per_cell_across_interleaved_steps(setup):
    cells, run = setup
    a, b = cells[0], cells[1]

    def interleaved(cells):
        return [
            started(cells),
            step(None, "load"),
            ("tick", 29.0),
            step(a, "measure"),
            ("tick", 6.0),
            step(b, "measure"),
            ("tick", 9.0),
            step(a, "measure"),
            ("tick", 3.0),
            ("tick", 1.5),
            ("tick", 1.0),
        ]

    failed, stored, launcher, _ = run([interleaved, succeed], cell_timeout_s=10.0)
    # loading took 29 s of 3 x 10 allowed; B's 9 s stays under 10; A: 6 + 3 + 1.5 > 10 stops the attempt
    assert launcher.stopped == ["CellTimeout"] and failed == 1
    error = stored[a.id]["error"]
    assert error["type"] == "CellTimeout" and error["message"].startswith(f"timed out: cell {a.id} took more than 10 s")
    assert launcher.launched[1] == [b.id, cells[2].id]


def test_an_exception_that_escapes_the_group_fails_its_unfinished_cells_with_it(setup):
    cells, run = setup

    def raising(cells):
        error = {"type": "RuntimeError", "message": "boom", "traceback": "..."}
        return [
            started(cells),
            step(None, "load"),
            finish(cells[0]),
            step(cells[1], "warm-up"),
            ("msgs", [GroupError(error)]),
            ("end", Ended("its process exited with code 1")),
        ]

    failed, stored, launcher, _ = run([raising])
    assert failed == 2 and len(launcher.launched) == 1
    assert stored[cells[0].id]["status"] == "ok"
    assert [stored[c.id]["info"]["failed_at"] for c in cells[1:]] == ["warm-up", "pending"]
    assert {stored[c.id]["error"]["message"] for c in cells[1:]} == {"boom"}


def test_a_clean_exit_that_left_cells_unstored_loses_none_of_them(setup):
    cells, run = setup

    def forgetful(cells):
        return [started(cells), finish(cells[0]), ("msgs", [Done(0)]), ("end", Ended(None))]

    failed, stored, _, events = run([forgetful])
    assert failed == 2
    assert [stored[c.id]["error"]["type"] for c in cells[1:]] == ["Lost", "Lost"]
    assert sorted(events.finished) == sorted([(cells[0].id, "ok"), (cells[1].id, "failed"), (cells[2].id, "failed")])


def test_scoring_that_breaks_in_the_parent_fails_that_cell_only(setup, monkeypatch):
    """A child's cell is scored by the parent (`runner.quality.complete_pending`); an unexpected error
    there fails that cell at its summary step, as a local cell's would, and the others are stored."""
    cells, run = setup
    real = supervise.complete_pending

    def breaks_for_the_second(quality, summary, info, samples, where):
        if cells[1].id in where:
            raise RuntimeError("the scorer broke")
        return real(quality, summary, info, samples, where)

    monkeypatch.setattr(supervise, "complete_pending", breaks_for_the_second)
    failed, stored, _, _ = run([succeed])
    assert stored[cells[1].id]["status"] == "failed"
    assert stored[cells[1].id]["error"]["message"] == "the scorer broke"
    assert stored[cells[1].id]["info"]["failed_at"] == "summary"
    assert [stored[c.id]["status"] for c in (cells[0], cells[2])] == ["ok", "ok"]


def test_anything_but_a_message_is_refused(setup):
    """The messages are typed at the boundary: a bare tuple (the old form) is a bug, said as one."""
    _, run = setup
    with pytest.raises(TypeError, match="tuple, which is not a message"):
        run([lambda cells: [("msgs", [("done", 0)])]])
