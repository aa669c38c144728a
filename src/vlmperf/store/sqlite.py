"""The results store: runs, cells and records in one SQLite file, written as they are measured.

Every write is its own committed transaction in WAL mode, so a run killed at any moment (even by
SIGKILL) leaves a consistent file: finished cells stay finished, and a cell that was being
measured is visibly unfinished (status `running`) and is measured again on `--resume`.

A run being measured is owned by one process (`host:pid`); a second process cannot resume it
while that owner is alive, so two processes never measure the same cells at once on one machine.
A run marked running whose owner is gone was killed: it shows as `interrupted`.
"""

from __future__ import annotations

import os
import secrets
import socket
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson

from vlmperf.errors import InputError

DEFAULT_DIR = Path("vlmperf-results")
DB_NAME = "vlmperf.db"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    created TEXT NOT NULL,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    owner TEXT,
    manifest BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS cells (
    run_id TEXT NOT NULL REFERENCES runs(id),
    cell_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    config BLOB NOT NULL,
    swept BLOB NOT NULL,
    status TEXT NOT NULL,
    error BLOB,
    summary BLOB,
    info BLOB,
    started TEXT,
    finished TEXT,
    PRIMARY KEY (run_id, cell_id)
);
CREATE TABLE IF NOT EXISTS records (
    run_id TEXT NOT NULL,
    cell_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (run_id, cell_id, seq)
);
"""


_RUN_COLUMNS = "id, created, name, status, owner, manifest"
_INSERT_RECORDS = "INSERT INTO records (run_id, cell_id, seq, data) VALUES "
ROWS_PER_INSERT = 1000
"""Records per INSERT statement: 4,000 bound values, well under SQLite's limit of 32,766."""


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def to_blob(value: Any) -> bytes:
    """The JSON the store keeps for a value (numpy arrays and scalars included)."""
    return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY)


def _load(blob: bytes | None) -> Any:
    return None if blob is None else orjson.loads(blob)


def this_process() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def owner_alive(owner: str | None) -> bool:
    """Whether the process that owns a run still runs (only knowable on this host; elsewhere: assumed gone)."""
    if not owner:
        return False
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def new_run_id() -> str:
    """Sortable by time, unique by a random suffix: 20261122-120301-3fa9."""
    return f"{datetime.now(timezone.utc):%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"


@dataclass(frozen=True)
class StoredRun:
    id: str
    created: str
    name: str
    stored_status: str
    owner: str | None
    manifest: dict[str, Any]

    @property
    def status(self) -> str:
        """complete, partial, running, or interrupted (marked running, but its process is gone)."""
        if self.stored_status == "running" and not owner_alive(self.owner):
            return "interrupted"
        return self.stored_status


class Store:
    """One SQLite results file. Open it with `Store.open(folder)`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        # One thread at a time uses the connection, but not always the one that opened it: during an
        # endpoint load the record writer's thread inserts records (runner.record_writer).
        self._db = sqlite3.connect(path, isolation_level=None, timeout=30, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    @classmethod
    def open(cls, folder: Path | str = DEFAULT_DIR, *, create: bool = True) -> Store:
        folder = Path(folder).expanduser()
        path = folder / DB_NAME
        if not create and not path.is_file():
            raise InputError(f"no results store at {path}: run `vlmperf run` first, or point --out at the folder of one")
        try:
            folder.mkdir(parents=True, exist_ok=True)
            return cls(path)
        except (OSError, sqlite3.Error) as exc:
            if isinstance(exc, sqlite3.DatabaseError) and path.is_file():
                raise InputError(
                    f"{path} is not a readable vlmperf store ({exc}): move it away or point --out at another folder"
                ) from exc
            raise InputError(f"cannot open the results store {path} ({exc}): choose a writable folder with --out") from exc

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _write(self, sql: str, params: tuple[Any, ...]) -> None:
        self._db.execute(sql, params)

    # runs -------------------------------------------------------------------------------------
    def create_run(self, run_id: str, name: str, manifest: dict[str, Any]) -> None:
        self._write(
            "INSERT INTO runs (id, created, name, status, owner, manifest) VALUES (?, ?, ?, 'running', ?, ?)",
            (run_id, _now(), name, this_process(), to_blob(manifest)),
        )

    def claim_run(self, run_id: str) -> StoredRun:
        """Take over a stored run to measure more of it; refused while its owner still runs."""
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            run = self.run(run_id)
            if run.stored_status == "running" and owner_alive(run.owner):
                raise InputError(
                    f"run {run_id} is being measured by process {run.owner}; wait for it to finish or stop it, then resume"
                )
            self._db.execute("UPDATE runs SET status = 'running', owner = ? WHERE id = ?", (this_process(), run_id))
        return run

    def set_run_status(self, run_id: str, status: str) -> None:
        self._write("UPDATE runs SET status = ? WHERE id = ?", (status, run_id))

    def update_manifest(self, run_id: str, manifest: dict[str, Any]) -> None:
        self._write("UPDATE runs SET manifest = ? WHERE id = ?", (to_blob(manifest), run_id))

    def add_seconds(self, run_id: str, key: str, seconds: float) -> None:
        """Add `seconds` to the manifest's figure `key` (`wall_s`: measuring, `report_s`: writing the
        report; the run's time budget), summed over the run's attempts: a resumed run adds its own."""
        manifest = self.run(run_id).manifest
        self.update_manifest(run_id, {**manifest, key: manifest.get(key, 0.0) + seconds})

    def runs(self) -> list[StoredRun]:
        rows = self._db.execute(f"SELECT {_RUN_COLUMNS} FROM runs ORDER BY created, id").fetchall()
        return [StoredRun(*r[:5], _load(r[5])) for r in rows]

    def run(self, run_id: str) -> StoredRun:
        """A run by id, or `latest`; a missing one is an InputError naming what exists."""
        if run_id == "latest":
            row = self._db.execute(f"SELECT {_RUN_COLUMNS} FROM runs ORDER BY created DESC, id DESC LIMIT 1").fetchone()
        else:
            row = self._db.execute(f"SELECT {_RUN_COLUMNS} FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise InputError(f"no run {run_id!r} in {self.path}: `vlmperf runs` lists the stored runs")
        return StoredRun(*row[:5], _load(row[5]))

    def latest_run_with_any_cell(self, cell_ids: list[str]) -> str | None:
        """The newest run that holds any of these cells (what `--resume` continues)."""
        marks = ",".join("?" * len(cell_ids))
        row = self._db.execute(
            f"SELECT runs.id FROM runs JOIN cells ON cells.run_id = runs.id WHERE cells.cell_id IN ({marks}) "
            "ORDER BY runs.created DESC, runs.id DESC LIMIT 1",
            tuple(cell_ids),
        ).fetchone()
        return row[0] if row else None

    # cells ------------------------------------------------------------------------------------
    def add_cell(self, run_id: str, cell_id: str, position: int, config: dict[str, Any], swept: dict[str, Any]) -> None:
        """Declare a planned cell (status `pending`); declaring it again on resume changes nothing."""
        self._write(
            "INSERT OR IGNORE INTO cells (run_id, cell_id, position, config, swept, status) VALUES (?, ?, ?, ?, ?, 'pending')",
            (run_id, cell_id, position, to_blob(config), to_blob(swept)),
        )

    def cell_status(self, run_id: str, cell_id: str) -> str | None:
        row = self._db.execute("SELECT status FROM cells WHERE run_id = ? AND cell_id = ?", (run_id, cell_id)).fetchone()
        return row[0] if row else None

    def start_cell(self, run_id: str, cell_id: str) -> None:
        """Mark a cell as being measured, dropping records of any earlier, unfinished attempt."""
        with self._db:
            self._db.execute("BEGIN")
            self._db.execute("DELETE FROM records WHERE run_id = ? AND cell_id = ?", (run_id, cell_id))
            self._db.execute(
                "UPDATE cells SET status = 'running', error = NULL, summary = NULL, started = ?, finished = NULL "
                "WHERE run_id = ? AND cell_id = ?",
                (_now(), run_id, cell_id),
            )

    def add_records(self, run_id: str, cell_id: str, records: list[tuple[int, dict[str, Any] | bytes]]) -> None:
        """Store (seq, record) pairs of one cell: a record is a dict, or its JSON already serialised.

        One INSERT statement (one transaction) per `ROWS_PER_INSERT` records: SQLite releases the
        GIL once for all of them, where a statement per row would release and take it back per row,
        and each taking back can make a busy event loop in another thread hand the GIL over.
        """
        for start in range(0, len(records), ROWS_PER_INSERT):
            part = records[start : start + ROWS_PER_INSERT]
            values = [
                value
                for seq, record in part
                for value in (run_id, cell_id, seq, record if isinstance(record, bytes) else to_blob(record))
            ]
            self._db.execute(_INSERT_RECORDS + ", ".join(["(?, ?, ?, ?)"] * len(part)), values)

    def finish_cell(self, run_id: str, cell_id: str, summary: dict[str, Any], info: dict[str, Any]) -> None:
        self._write(
            "UPDATE cells SET status = 'ok', error = NULL, summary = ?, info = ?, finished = ? WHERE run_id = ? AND cell_id = ?",
            (to_blob(summary), to_blob(info), _now(), run_id, cell_id),
        )

    def add_to_summary(self, run_id: str, cell_id: str, metrics: dict[str, Any]) -> None:
        """Add metrics computed after a cell finished (those that compare cells) to its summary."""
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            row = self._db.execute("SELECT summary FROM cells WHERE run_id = ? AND cell_id = ?", (run_id, cell_id)).fetchone()
            summary = {**(_load(row[0]) or {}), **metrics}
            self._db.execute("UPDATE cells SET summary = ? WHERE run_id = ? AND cell_id = ?", (to_blob(summary), run_id, cell_id))

    def fail_cell(
        self, run_id: str, cell_id: str, error: dict[str, str], info: dict[str, Any] | None = None,
        summary: dict[str, Any] | None = None,
    ) -> None:
        """Store the cell as failed; `summary`, when given, keeps the figures it did measure (an endpoint
        cell whose requests mostly failed), beside the error that says why it failed."""
        self._write(
            "UPDATE cells SET status = 'failed', error = ?, info = ?, summary = COALESCE(?, summary), finished = ? "
            "WHERE run_id = ? AND cell_id = ?",
            (to_blob(error), to_blob(info or {}), None if summary is None else to_blob(summary), _now(), run_id, cell_id),
        )

    def cells(self, run_id: str) -> list[dict[str, Any]]:
        rows = self._db.execute(
            "SELECT cell_id, config, swept, status, error, summary, info, started, finished FROM cells "
            "WHERE run_id = ? ORDER BY position",
            (run_id,),
        ).fetchall()
        return [
            {
                "id": r[0],
                "config": _load(r[1]),
                "swept": _load(r[2]),
                "status": r[3],
                "error": _load(r[4]),
                "metrics": _load(r[5]) or {},
                "info": _load(r[6]) or {},
                "started": r[7],
                "finished": r[8],
            }
            for r in rows
        ]

    def records(self, run_id: str, cell_id: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT cell_id, seq, data FROM records WHERE run_id = ?"
        params: tuple[Any, ...] = (run_id,)
        if cell_id is not None:
            sql += " AND cell_id = ?"
            params += (cell_id,)
        with closing(self._db.execute(sql + " ORDER BY cell_id, seq", params)) as cursor:
            return [{"cell_id": r[0], "seq": r[1], **_load(r[2])} for r in cursor]
