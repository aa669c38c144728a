"""Damaged, foreign and other-version stores, through the CLI (issue 16).

A file that is not a vlmperf store, a damaged store or one of a newer vlmperf is refused by every
command with exit code 2 and one line saying what to do, and its bytes stay as they were. A store
with a damaged row is read without that row, and the command says so on stderr. A store made before
the version stamp (user_version 0) is read as it is, and migrated when a run is written into it.
Most commands run in this process through the console entry point (`vlmperf.cli.entry`); a few as
the real console script.
"""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest

from vlmperf.cli import entry
from vlmperf.store.layout import APPLICATION_ID, SCHEMA_VERSION
from vlmperf.store.sqlite import Store

from fixtures.cli import quick_args, quick_overrides

QUICK_CHANGES = {"workload.limit": 1}
"""A quick run of one sample."""
QUICK = quick_args(QUICK_CHANGES)


def _html_format() -> list[str]:
    try:
        import plotly  # noqa: F401
    except ImportError:
        return []
    return ["html"]


READERS = [
    ["runs"],
    *(["report", "latest", "--format", f] for f in ["table", "json", "md", "csv", *_html_format()]),
    ["export", "latest", "-o", "{tmp}/summaries.csv"],
    ["export", "latest", "--what", "records", "-o", "{tmp}/records.csv"],
]


def cli(args: list[str], out: Path, capsys, monkeypatch) -> tuple[int, str, str]:
    """Run `vlmperf ARGS --out OUT` in this process; (exit code, stdout, stderr). Any exception that
    escapes the entry point fails the test (it would be a traceback)."""
    args = [a.replace("{tmp}", str(out.parent)) for a in args]
    monkeypatch.setattr(sys, "argv", ["vlmperf", *args, "--out", str(out)])
    code = 0
    try:
        entry()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def digest(out: Path) -> str:
    return hashlib.sha256((out / "vlmperf.db").read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def healthy(tmp_path_factory, vlmperf_cache) -> Path:
    """A store holding one small real run (the module's only model run in this process)."""
    import vlmperf.api as vp

    out = tmp_path_factory.mktemp("healthy")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("VLMPERF_CACHE", str(vlmperf_cache))
        vp.run(None, overrides=quick_overrides(QUICK_CHANGES), out=out)
    return out


def copy_of(healthy: Path, tmp_path: Path) -> Path:
    out = tmp_path / "store"
    out.mkdir()
    shutil.copyfile(healthy / "vlmperf.db", out / "vlmperf.db")
    return out


def edit(out: Path, *statements: str) -> None:
    with closing(sqlite3.connect(out / "vlmperf.db", isolation_level=None)) as db:
        for statement in statements:
            db.execute(statement)


def assert_refused(result: tuple[int, str, str], *words: str) -> None:
    code, stdout, stderr = result
    where = f"stdout:\n{stdout}\nstderr:\n{stderr}"
    assert code == 2, where
    assert "Traceback" not in stdout + stderr, where
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), where
    for word in words:
        assert word in lines[0], where


def refused_everywhere(out: Path, capsys, monkeypatch, *words: str) -> None:
    """Every reader, and `run`, refuse the store at `out` with one line, leaving its bytes as they were."""
    before = digest(out)
    for args in [*READERS, ["run", *QUICK]]:
        assert_refused(cli(args, out, capsys, monkeypatch), *words)
        assert digest(out) == before, f"`vlmperf {' '.join(args)}` changed a store it refused"


# ---------------------------------------------------------------------------------------------
# refused files


def test_a_foreign_sqlite_file_is_refused_and_left_alone(tmp_path, capsys, monkeypatch, vlmperf_cache):
    monkeypatch.setenv("VLMPERF_CACHE", str(vlmperf_cache))
    out = tmp_path / "foreign"
    out.mkdir()
    edit(out, "CREATE TABLE people (name TEXT)", "INSERT INTO people VALUES ('ada')")
    refused_everywhere(out, capsys, monkeypatch, "foreign SQLite file", "people", "point --out")
    with closing(sqlite3.connect(out / "vlmperf.db")) as db:
        assert [r[0] for r in db.execute("SELECT name FROM sqlite_master")] == ["people"]


def test_random_bytes_are_refused(tmp_path, capsys, monkeypatch, vlmperf_cache):
    monkeypatch.setenv("VLMPERF_CACHE", str(vlmperf_cache))
    out = tmp_path / "noise"
    out.mkdir()
    (out / "vlmperf.db").write_bytes(bytes(range(256)) * 64)
    refused_everywhere(out, capsys, monkeypatch, "not an SQLite file", "move it away")


def test_a_store_that_fails_quick_check_is_refused(healthy, tmp_path, capsys, monkeypatch, vlmperf_cache):
    monkeypatch.setenv("VLMPERF_CACHE", str(vlmperf_cache))
    out = copy_of(healthy, tmp_path)
    with closing(sqlite3.connect(out / "vlmperf.db")) as db:
        page_size = db.execute("PRAGMA page_size").fetchone()[0]
        root = db.execute("SELECT rootpage FROM sqlite_master WHERE name = 'records'").fetchone()[0]
    with (out / "vlmperf.db").open("r+b") as handle:
        handle.seek(page_size * (root - 1))
        handle.write(b"\xff" * page_size)
    refused_everywhere(out, capsys, monkeypatch, "is damaged", "move it aside")


def test_a_store_of_a_newer_vlmperf_is_refused(healthy, tmp_path, capsys, monkeypatch, vlmperf_cache):
    monkeypatch.setenv("VLMPERF_CACHE", str(vlmperf_cache))
    out = copy_of(healthy, tmp_path)
    edit(out, f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    refused_everywhere(out, capsys, monkeypatch, "newer vlmperf", "upgrade")


@pytest.mark.parametrize(
    "change, words",
    [
        ("ALTER TABLE cells ADD COLUMN colour TEXT", ("table cells", "extra: colour")),
        ("ALTER TABLE cells DROP COLUMN info", ("table cells", "missing: info")),
        ("DROP TABLE records", ("no table records",)),
    ],
)
def test_a_store_whose_tables_differ_is_refused(healthy, tmp_path, capsys, monkeypatch, vlmperf_cache, change, words):
    monkeypatch.setenv("VLMPERF_CACHE", str(vlmperf_cache))
    out = copy_of(healthy, tmp_path)
    edit(out, change)
    refused_everywhere(out, capsys, monkeypatch, "move it aside", *words)


@pytest.mark.slow
def test_the_real_console_script_refuses_a_damaged_run_target(tmp_path, vlmperf_env):
    out = tmp_path / "foreign"
    out.mkdir()
    edit(out, "CREATE TABLE people (name TEXT)")
    before = digest(out)
    script = Path(sys.executable).with_name("vlmperf")
    command = [str(script)] if script.is_file() else [sys.executable, "-m", "vlmperf"]
    for args in (["runs"], ["run", *QUICK]):
        result = subprocess.run(
            [*command, *args, "--out", str(out)],
            env=vlmperf_env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert_refused((result.returncode, result.stdout, result.stderr), "foreign SQLite file")
        assert digest(out) == before


# ---------------------------------------------------------------------------------------------
# damaged rows: skipped, and said


@pytest.mark.parametrize(
    "change, why",
    [
        ("UPDATE cells SET summary = X'0067617262616765'", "summary is not JSON"),
        ("UPDATE cells SET config = '[1, 2]'", "config is not a mapping"),
        ("UPDATE cells SET info = 'null', error = '{\"type\": 1'", "error is not JSON"),
    ],
)
def test_a_damaged_cell_is_skipped_and_said(healthy, tmp_path, capsys, monkeypatch, change, why):
    out = copy_of(healthy, tmp_path)
    edit(out, change)
    before = digest(out)
    for args in READERS:
        code, stdout, stderr = cli(args, out, capsys, monkeypatch)
        where = f"{args}\nstdout:\n{stdout}\nstderr:\n{stderr}"
        assert code == 0 and "Traceback" not in stdout + stderr, where
        warnings = [line for line in stderr.splitlines() if line.startswith("warning: ")]
        assert len(warnings) == 1 and "skipped 1 damaged row" in warnings[0] and why in warnings[0], where
        if args[-1] == "json":
            assert why in stdout and '"cells": []' in stdout, where
    assert digest(out) == before


def test_damaged_records_and_manifest_are_skipped_and_said(healthy, tmp_path, capsys, monkeypatch):
    out = copy_of(healthy, tmp_path)
    edit(out, "UPDATE records SET data = X'00ff'", "UPDATE runs SET manifest = '\"text\"'")
    code, _, stderr = cli(["export", "latest", "--what", "records", "-o", "{tmp}/r.csv"], out, capsys, monkeypatch)
    assert code == 0 and "Traceback" not in stderr, stderr
    assert "manifest is not a mapping" in stderr and "record(s), data is not JSON" in stderr
    code, _, stderr = cli(["report", "latest", "--format", "json"], out, capsys, monkeypatch)
    assert code == 0 and "manifest is not a mapping" in stderr, stderr


# ---------------------------------------------------------------------------------------------
# versions


def test_a_store_from_before_the_version_stamp_is_read_as_it_is_and_migrated_by_a_run(
    healthy, tmp_path, capsys, monkeypatch, vlmperf_cache
):
    monkeypatch.setenv("VLMPERF_CACHE", str(vlmperf_cache))
    out = copy_of(healthy, tmp_path)
    edit(out, "PRAGMA application_id = 0", "PRAGMA user_version = 0")
    before = digest(out)
    for args in READERS:
        code, stdout, stderr = cli(args, out, capsys, monkeypatch)
        assert code == 0 and "Traceback" not in stdout + stderr and not stderr.count("warning"), (args, stderr)
    assert digest(out) == before, "reading an older store must not migrate it"
    with Store.open(out, create=False) as store:
        (old,) = store.runs()
    code, stdout, stderr = cli(["run", *QUICK], out, capsys, monkeypatch)
    assert code == 0, stderr
    with closing(sqlite3.connect(out / "vlmperf.db")) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert db.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    with Store.open(out, create=False) as store:
        runs = store.runs()
        assert len(runs) == 2 and runs[0].id == old.id
        assert store.cells(old.id) and not store.skipped


def test_a_new_store_is_stamped_and_a_healthy_one_reads_without_warnings(healthy, capsys, monkeypatch):
    with closing(sqlite3.connect(f"file:{healthy / 'vlmperf.db'}?mode=ro", uri=True)) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert db.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    before = digest(healthy)
    for args in READERS[:3]:
        code, _, stderr = cli(args, healthy, capsys, monkeypatch)
        assert code == 0 and "warning" not in stderr, stderr
    assert digest(healthy) == before


def test_an_empty_file_is_no_store_to_read_but_one_to_write(tmp_path, capsys, monkeypatch):
    out = tmp_path / "empty"
    out.mkdir()
    (out / "vlmperf.db").write_bytes(b"")
    assert_refused(cli(["runs"], out, capsys, monkeypatch), "no results store", "empty")
    assert (out / "vlmperf.db").read_bytes() == b""
    with Store.open(out) as store:
        assert store.runs() == []
