"""The results store: run ownership, interrupted runs, and a cell's error cleared when it succeeds."""

from __future__ import annotations

import subprocess
import sys

import pytest

from vlmperf.errors import InputError
from vlmperf.store.sqlite import Store, this_process


def test_a_run_owned_by_a_live_process_cannot_be_claimed(tmp_path):
    with Store.open(tmp_path) as store:
        store.create_run("r1", "x", {})
        assert store.run("r1").owner == this_process()
        with pytest.raises(InputError, match="being measured by process"):
            store.claim_run("r1")


def test_a_run_whose_process_died_shows_as_interrupted_and_can_be_resumed(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    host = this_process().rpartition(":")[0]
    with Store.open(tmp_path) as store:
        store.create_run("r1", "x", {})
        store._db.execute("UPDATE runs SET owner = ? WHERE id = 'r1'", (f"{host}:{dead.stdout.strip()}",))
        assert store.run("r1").status == "interrupted"
        store.claim_run("r1")
        assert store.run("r1").status == "running"


def test_finishing_a_cell_clears_an_earlier_error(tmp_path):
    with Store.open(tmp_path) as store:
        store.create_run("r1", "x", {})
        store.add_cell("r1", "c1", 0, {}, {})
        store.start_cell("r1", "c1")
        store.fail_cell("r1", "c1", {"type": "E", "message": "boom"})
        store.start_cell("r1", "c1")
        store.finish_cell("r1", "c1", {}, {})
        (cell,) = store.cells("r1")
        assert (cell["status"], cell["error"]) == ("ok", None)


def test_a_file_that_is_not_a_store_says_what_to_do(tmp_path):
    (tmp_path / "vlmperf.db").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(InputError, match="move it away"):
        Store.open(tmp_path)
