"""Target kinds: one package and one registry entry each (`vlmperf.backends.registry`).

A toy kind, `echo` (tests/fixtures/echo_kind/), is registered at run time in a fresh interpreter and run
end to end: config, run, store, tables, study tables, HTML, compare and docs all take it without a change to
vlmperf. Adding a kind to vlmperf itself changes the three files of `ADDING_A_KIND_CHANGES`, and no module
outside a kind's own package and the registry names a kind (checked on the source).
"""

from __future__ import annotations

import ast
import importlib
import inspect
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from vlmperf.backends.registry import KINDS, register
from vlmperf.backends.target_kind import KindReport, TargetKind
from vlmperf.metrics.definitions import CELL_FIGURES, METRICS

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "src" / "vlmperf"
TESTS = Path(__file__).resolve().parent

ADDING_A_KIND_CHANGES = (
    "src/vlmperf/backends/registry.py",  # one import and one register(...) line
    "docs/architecture.md",  # the new package's folder in "Where each idea lives"
    "docs/metrics.md",  # regenerated: the kind's metrics
)
"""The existing files a new built-in kind changes; everything else is its own package
`src/vlmperf/backends/<kind>/` (spec, `TargetKind`, group runner, metrics)."""

CHILD = """
import json, sys
from fixtures.cli import run_cli
from fixtures.echo_kind.kind import ECHO
from vlmperf.backends.registry import register

register(ECHO)
out, config = sys.argv[1], sys.argv[2]
results = {}


def call(name, *args):
    ran = run_cli(*args, "--out", out)
    results[name] = {"rc": ran.returncode, "stdout": ran.stdout, "stderr": ran.stderr}
    return ran


def latest():
    return json.loads(call("json", "report", "latest", "--format", "json").stdout)["run"]["id"]


call("run_a", "run", config)
first = latest()
call("run_b", "run", config)
second = latest()
call("table", "report", "latest")
call("study", "report", "latest", "--format", "study")
call("html", "report", "latest", "--format", "html", "-o", out + "/report.html")
call("compare", "compare", first, second, "--allow-unstable", "-f", "json")
call("unknown_key", "run", config, "--set", "target.colour=red")
call("wrong_scenario", "run", config, "--set", "scenario.kind=rate", "--set", "scenario.rate=2")
call("process", "run", config, "--executor", "process")
from vlmperf.metrics.docs import render

results["docs"] = render()
print(json.dumps(results))
"""

CONFIG = """
name: echo
target: {kind: echo, answer: "a photo of a cat"}
workload: {task: vqa, limit: 3}
measure: {warmup_runs: 0, min_runs: 2, max_runs: 2, min_duration_s: 0}
sweep: {grid: {target.delay_s: [0.001, 0.004]}}
"""


@pytest.fixture(scope="module")
def echo_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    folder = tmp_path_factory.mktemp("echo")
    (folder / "echo.yaml").write_text(CONFIG)
    env = {**os.environ, "VLMPERF_CACHE": str(folder / "cache"), "NO_COLOR": "1", "TERM": "dumb"}
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS), *filter(None, [os.environ.get("PYTHONPATH")])])  # children too
    child = subprocess.run(
        [sys.executable, "-c", CHILD, str(folder / "results"), str(folder / "echo.yaml")],
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=300,
    )
    assert child.returncode == 0, child.stderr[-3000:]
    results = json.loads(child.stdout.splitlines()[-1])
    results["folder"] = folder
    return results


@pytest.mark.slow
def test_a_kind_registered_at_run_time_is_measured_stored_and_reported(echo_run):
    assert echo_run["run_a"]["rc"] == 0, echo_run["run_a"]["stderr"]
    document = json.loads(echo_run["json"]["stdout"])
    cells = document["cells"]
    assert [c["status"] for c in cells] == ["ok", "ok"]
    for cell in cells:
        delay = cell["config"]["target.delay_s"]
        echo = cell["metrics"]["echo_s"]
        assert echo["n"] == 6 and echo["min"] >= delay  # 3 samples x 2 runs, each at least its delay
        assert cell["metrics"]["output_chars"]["mean"] == len("a photo of a cat")  # the every-kind metrics apply
        assert "vqa_accuracy" in cell["metrics"]  # scored like any other kind's outputs
        assert cell["stability"]["metric"] == "echo_s"
    assert cells[0]["config"]["target.kind"] == "echo" and "target.answer" in cells[0]["config"]
    assert "echo_ms p50" in echo_run["table"]["stdout"] and "chars mean" in echo_run["table"]["stdout"]
    assert "| target.delay_s | echo_ms p50 | chars mean |" in echo_run["study"]["stdout"]


@pytest.mark.slow
def test_the_html_report_compare_and_docs_read_the_kind_from_the_registry(echo_run):
    assert echo_run["html"]["rc"] == 0, echo_run["html"]["stderr"]
    page = (echo_run["folder"] / "results" / "report.html").read_text()
    assert "echo_s" in page and "plot-latency-cdf" in page  # its latency's distribution is drawn
    assert echo_run["compare"]["rc"] == 0, echo_run["compare"]["stderr"]
    rows = json.loads(echo_run["compare"]["stdout"])["rows"]
    assert {row["metric"] for row in rows} == {"echo_s"} and len(rows) == 2  # its main latency by default
    assert "## Echo (a toy)" in echo_run["docs"] and "| `echo_s` | s | batch | lower |" in echo_run["docs"]


@pytest.mark.slow
def test_the_kinds_config_errors_name_its_keys_and_scenarios(echo_run):
    unknown, wrong = echo_run["unknown_key"], echo_run["wrong_scenario"]
    assert (
        unknown["rc"] == 2
        and "target.colour: unknown key; allowed keys here: kind, answer, delay_s" in unknown["stderr"]
    )
    assert (
        wrong["rc"] == 2
        and "scenario kind rate does not apply to echo targets; use one of: single-stream" in (wrong["stderr"])
    )
    process = echo_run["process"]  # a child process knows only the kinds listed in the registry: it says so
    assert "target kind echo is not registered in this process" in process["stdout"] + process["stderr"]


def _kind_literals(path: Path) -> list[tuple[int, str]]:
    """(line, text) of each string constant in `path` equal to a kind's name, docstrings left out, and not the
    executor's `local` (`executor.kind`), a different thing of the same name."""
    tree = ast.parse(path.read_text())
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and node.value in KINDS and id(node) not in docstrings
    ]


EXECUTOR_LOCAL = {"config/spec.py", "runner/executors/__init__.py", "runner/executors/local.py", "cli/run_commands.py"}
"""Modules where `"local"` is the executor kind (`executor.kind: local`), not the target kind."""


def test_no_module_outside_a_kinds_package_and_the_registry_names_a_kind():
    named: list[str] = []
    for path in sorted(SOURCE.rglob("*.py")):
        relative = path.relative_to(SOURCE).as_posix()
        own = relative == "backends/registry.py" or any(relative.startswith(f"backends/{k}/") for k in KINDS)
        for line, text in [] if own else _kind_literals(path):
            if not (text == "local" and relative in EXECUTOR_LOCAL):
                named.append(f"{relative}:{line}: {text!r}")
    assert named == [], "ask vlmperf.backends.registry instead of naming a kind"


def test_adding_a_kind_changes_three_existing_files():
    registry = (SOURCE / "backends" / "registry.py").read_text()
    for kind in KINDS.values():
        constant = kind.name.upper()
        assert registry.count(f"register({constant})") == 1, f"{kind.name}: one registry entry"
        assert (SOURCE / "backends" / kind.name / "kind.py").exists(), f"{kind.name}: its TargetKind in its package"
    recipe = (ROOT / "docs" / "architecture.md").read_text().split("### Add a target kind")[1]
    changed = recipe.split("Change:")[1].split("Tests to copy")[0]
    named = {path for path in ADDING_A_KIND_CHANGES if f"`{path}`" in changed}
    assert named == set(ADDING_A_KIND_CHANGES) and changed.count("`src/") == 1  # the registry is its only code


def test_every_metric_a_kind_shows_is_registered():
    known = set(METRICS) | set(CELL_FIGURES)
    for kind in KINDS.values():
        report = kind.report
        shown = {m for m, _, _ in report.headline} | {report.latency, *report.bar_latencies, *report.sweep_plots}
        shown |= set(report.costs.values())
        assert shown <= known, f"{kind.name} shows unregistered metrics: {sorted(shown - known)}"
        assert report.latency in METRICS and METRICS[report.latency].extractor(kind.name) is not None


def test_every_kinds_hooks_module_has_what_the_runner_calls():
    for kind in KINDS.values():
        hooks = importlib.import_module(kind.hooks)
        assert len(inspect.signature(hooks.run_group).parameters) == 6, kind.name  # cells, plan, sink, run id, ...
        for optional in ("check", "lacks"):
            if hasattr(hooks, optional):
                assert list(inspect.signature(getattr(hooks, optional)).parameters) == ["spec"], kind.name
    assert hasattr(importlib.import_module(KINDS["local"].hooks), "lacks")  # what this machine lacks: local only


def _toy(**changes) -> TargetKind:
    from fixtures.echo_kind.kind import ECHO

    return TargetKind(**{**ECHO.__dict__, **changes})


def test_the_registry_refuses_a_kind_it_cannot_use():
    with pytest.raises(ValueError, match="registered twice"):
        register(KINDS["endpoint"])
    with pytest.raises(ValueError, match="its spec's kind defaults to 'echo', not 'other'"):
        register(_toy(name="other"))
    with pytest.raises(ValueError, match="scenarios must be some of"):
        register(_toy(scenarios=("burst",)))
    with pytest.raises(ValueError, match="scenarios must be some of"):
        register(_toy(scenarios=()))
    assert "echo" not in KINDS and "other" not in KINDS


def test_a_kind_report_has_defaults_for_what_it_does_not_say():
    report = KindReport(headline=(), latency="e2e_s", bar_latencies=(), sweep_plots=())
    assert (report.cell_noun, report.study_table, report.roofline, dict(report.costs)) == (
        "cell",
        "headline",
        False,
        {},
    )
