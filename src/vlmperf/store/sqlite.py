"""The results store: runs, cells and records in one SQLite file, written as they are measured.

Every write is its own committed transaction in WAL mode, so a run killed at any moment (even by
SIGKILL) leaves a consistent file: finished cells stay finished, and a cell that was being
measured is visibly unfinished (status `running`) and is measured again on `--resume`.

A run being measured is owned by one process (`host:pid`); a second process cannot resume it
while that owner is alive, so two processes never measure the same cells at once on one machine.
A run marked running whose owner is gone was killed: it shows as `interrupted`.

The file is checked before anything is written to it (`Store.open`): it must be empty, or a
vlmperf store (its `application_id`, or the three tables of a store made before the version
stamp) whose version (`user_version`) this code knows, whose tables have the expected columns,
and which passes SQLite's `quick_check`. A foreign, damaged or newer file is refused with one line
and left byte for byte as it was; an older store is migrated when opened to write, and read as it
is otherwise. A reader that meets a damaged row (a blob that is not JSON, a config that is not a
mapping, ...) skips it and notes why in `Store.skipped`.
"""

from __future__ import annotations

import os
import secrets
import socket
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from vlmperf.errors import InputError
from vlmperf.metrics.summary_types import CellSummary
from vlmperf.store.layout import ADDED_COLUMNS, APPLICATION_ID, FIX, SCHEMA, SCHEMA_VERSION, inspect_file

DEFAULT_DIR = Path("vlmperf-results")
DB_NAME = "vlmperf.db"

_RUN_COLUMNS = "id, created, name, status, owner, manifest"
_INSERT_RECORDS = "INSERT INTO records (run_id, cell_id, seq, data) VALUES "
ROWS_PER_INSERT = 1000
"""Records per INSERT statement: 4,000 bound values, well under SQLite's limit of 32,766."""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def to_blob(value: Any) -> bytes:
    """The JSON the store keeps for a value (numpy arrays and scalars included)."""
    return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY)


def _load(blob: bytes | None) -> Any:
    return None if blob is None else orjson.loads(blob)


class _BadRow(Exception):
    """A stored row a reader cannot use; the message says what is wrong with it."""


def _field(blob: Any, name: str, *, optional: bool = False) -> Any:
    """A JSON column that holds a mapping (or null, when `optional`); _BadRow when it does not."""
    if blob is None:
        if optional:
            return None
        raise _BadRow(f"{name} is missing")
    try:
        value = orjson.loads(blob)
    except (orjson.JSONDecodeError, TypeError):
        raise _BadRow(f"{name} is not JSON") from None
    if value is None and optional:
        return None
    if not isinstance(value, dict):
        raise _BadRow(f"{name} is not a mapping")
    return value


def _text(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise _BadRow(f"{name} is not text")
    return value


def skipped_message(skipped: list[str]) -> str:
    """One line saying which damaged rows a reader skipped (a warning: the rest was read)."""
    shown = "; ".join(skipped[:5]) + (f"; and {len(skipped) - 5} more" if len(skipped) > 5 else "")
    return (
        f"skipped {len(skipped)} damaged row(s) of the store ({shown}): the rest is shown; "
        "restore the store from a copy to get them back"
    )


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
    return f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"


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

    def __init__(self, path: Path, *, write: bool = True, version: int | None = None) -> None:
        """Open the file at `path`, checked by `layout.inspect_file` (`version`: None for a new or empty file).
        To write, a new file gets the schema and an older store is migrated; to read, neither."""
        self.path = path
        self.skipped: list[str] = []
        """Damaged rows the readers skipped, each as `run X, cell Y: what is wrong` (see `skipped_message`)."""
        # One thread at a time uses the connection, but not always the one that opened it: during an
        # endpoint load the record writer's thread inserts records (backends.endpoint.record_writer).
        self._db = sqlite3.connect(path, isolation_level=None, timeout=30, check_same_thread=False)
        if not write:
            return
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        if version is None:
            self._db.executescript(SCHEMA)
        elif version < SCHEMA_VERSION:
            self._migrate(version)
        if version != SCHEMA_VERSION:
            self._db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _migrate(self, version: int) -> None:
        """Bring a store of an older `version` to SCHEMA_VERSION (its runs stay readable)."""
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            for later in range(version + 1, SCHEMA_VERSION + 1):
                for table, column, declaration in ADDED_COLUMNS.get(later, []):
                    present = [r[1] for r in self._db.execute(f"PRAGMA table_info({table})")]
                    if column not in present:
                        self._db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")

    @classmethod
    def open(cls, folder: Path | str = DEFAULT_DIR, *, create: bool = True) -> Store:
        """The store in `folder`. `create`: make it when missing, and open it to write (an older store is
        migrated); without it the store must exist and is only read (nothing is written to it)."""
        folder = Path(folder).expanduser()
        path = folder / DB_NAME
        if not create and not path.is_file():
            raise InputError(
                f"no results store at {path}: run `vlmperf run` first, or point --out at the folder of one"
            )
        kind, version = inspect_file(path) if path.is_file() else ("empty", 0)
        if kind == "empty" and not create:
            raise InputError(
                f"no results store at {path} (the file is empty): run `vlmperf run` first, "
                "or point --out at the folder of one"
            )
        try:
            folder.mkdir(parents=True, exist_ok=True)
            return cls(path, write=create, version=version if kind == "store" else None)
        except (OSError, sqlite3.Error) as exc:
            raise InputError(
                f"cannot open the results store {path} ({exc}): choose a writable folder with --out"
            ) from exc

    def _read(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """The rows of a query; SQLite failing to read the file is an InputError saying what to do."""
        try:
            return self._db.execute(sql, params).fetchall()
        except sqlite3.DatabaseError as exc:
            raise InputError(f"the store at {self.path} is damaged ({exc}): {FIX}") from exc

    def _skip(self, what: str) -> None:
        if what not in self.skipped:
            self.skipped.append(what)

    def _stored_run(self, row: tuple[Any, ...]) -> StoredRun | None:
        """A runs row, or None (noted in `skipped`) when it is damaged; a manifest that is not a mapping
        is read as empty (noted), so the run's cells stay readable."""
        try:
            run_id, created, name, status = (
                _text(v, n) for v, n in zip(row[:4], ("id", "created", "name", "status"), strict=True)
            )
        except _BadRow as bad:
            self._skip(f"run {row[0]!r}: {bad}")
            return None
        try:
            manifest = _field(row[5], "manifest")
        except _BadRow as bad:
            self._skip(f"run {run_id}: {bad} (read without it)")
            manifest = {}
        owner = row[4] if isinstance(row[4], str) else None
        return StoredRun(run_id, created, name, status, owner, manifest)

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
                    f"run {run_id} is being measured by process {run.owner}; "
                    "wait for it to finish or stop it, then resume"
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
        rows = self._read(f"SELECT {_RUN_COLUMNS} FROM runs ORDER BY created, id")
        return [run for run in map(self._stored_run, rows) if run is not None]

    def run(self, run_id: str) -> StoredRun:
        """A run by id, or `latest`; a missing one is an InputError naming what exists."""
        if run_id == "latest":
            rows = self._read(f"SELECT {_RUN_COLUMNS} FROM runs ORDER BY created DESC, id DESC LIMIT 1")
        else:
            rows = self._read(f"SELECT {_RUN_COLUMNS} FROM runs WHERE id = ?", (run_id,))
        if not rows:
            raise InputError(f"no run {run_id!r} in {self.path}: `vlmperf runs` lists the stored runs")
        run = self._stored_run(rows[0])
        if run is None:
            raise InputError(f"run {run_id!r} in {self.path} is damaged ({self.skipped[-1]}): {FIX}")
        return run

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
            "INSERT OR IGNORE INTO cells (run_id, cell_id, position, config, swept, status) "
            "VALUES (?, ?, ?, ?, ?, 'pending')",
            (run_id, cell_id, position, to_blob(config), to_blob(swept)),
        )

    def cell_status(self, run_id: str, cell_id: str) -> str | None:
        row = self._db.execute(
            "SELECT status FROM cells WHERE run_id = ? AND cell_id = ?", (run_id, cell_id)
        ).fetchone()
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

    def finish_cell(self, run_id: str, cell_id: str, summary: CellSummary, info: dict[str, Any]) -> None:
        self._write(
            "UPDATE cells SET status = 'ok', error = NULL, summary = ?, info = ?, finished = ? "
            "WHERE run_id = ? AND cell_id = ?",
            (to_blob(summary), to_blob(info), _now(), run_id, cell_id),
        )

    def add_to_summary(self, run_id: str, cell_id: str, metrics: CellSummary) -> None:
        """Add metrics computed after a cell finished (those that compare cells) to its summary."""
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            row = self._db.execute(
                "SELECT summary FROM cells WHERE run_id = ? AND cell_id = ?", (run_id, cell_id)
            ).fetchone()
            summary: CellSummary = {**(_load(row[0]) or {}), **metrics}
            self._db.execute(
                "UPDATE cells SET summary = ? WHERE run_id = ? AND cell_id = ?", (to_blob(summary), run_id, cell_id)
            )

    def fail_cell(
        self,
        run_id: str,
        cell_id: str,
        error: dict[str, str],
        info: dict[str, Any] | None = None,
        summary: CellSummary | None = None,
    ) -> None:
        """Store the cell as failed; `summary`, when given, keeps the figures it did measure (an endpoint
        cell whose requests mostly failed), beside the error that says why it failed."""
        self._write(
            "UPDATE cells SET status = 'failed', error = ?, info = ?, summary = COALESCE(?, summary), finished = ? "
            "WHERE run_id = ? AND cell_id = ?",
            (
                to_blob(error),
                to_blob(info or {}),
                None if summary is None else to_blob(summary),
                _now(),
                run_id,
                cell_id,
            ),
        )

    def cells(self, run_id: str) -> list[dict[str, Any]]:
        """The run's cells in plan order; a damaged one is skipped (noted in `skipped`)."""
        rows = self._read(
            "SELECT cell_id, config, swept, status, error, summary, info, started, finished FROM cells "
            "WHERE run_id = ? ORDER BY position",
            (run_id,),
        )
        cells = []
        for r in rows:
            try:
                metrics: CellSummary = _field(r[5], "summary", optional=True) or {}
                if not all(isinstance(stats, dict) for stats in metrics.values()):
                    raise _BadRow("summary holds a metric that is not a mapping")
                cells.append(
                    {
                        "id": _text(r[0], "cell id"),
                        "config": _field(r[1], "config"),
                        "swept": _field(r[2], "swept"),
                        "status": _text(r[3], "status"),
                        "error": _field(r[4], "error", optional=True),
                        "metrics": metrics,
                        "info": _field(r[6], "info", optional=True) or {},
                        "started": r[7],
                        "finished": r[8],
                    }
                )
            except _BadRow as bad:
                self._skip(f"run {run_id}, cell {r[0]}: {bad}")
        return cells

    def records(self, run_id: str, cell_id: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT cell_id, seq, data FROM records WHERE run_id = ?"
        params: tuple[Any, ...] = (run_id,)
        if cell_id is not None:
            sql += " AND cell_id = ?"
            params += (cell_id,)
        bad: dict[tuple[Any, str], int] = {}
        records = []
        try:
            with closing(self._db.execute(sql + " ORDER BY cell_id, seq", params)) as cursor:
                for r in cursor:
                    try:
                        records.append({"cell_id": _text(r[0], "cell id"), "seq": r[1], **_field(r[2], "data")})
                    except _BadRow as why:
                        bad[r[0], str(why)] = bad.get((r[0], str(why)), 0) + 1
        except sqlite3.DatabaseError as exc:
            raise InputError(f"the store at {self.path} is damaged ({exc}): {FIX}") from exc
        for (cell, reason), count in bad.items():
            self._skip(f"run {run_id}, cell {cell}: {count} record(s), {reason}")
        return records
