"""The store's file layout, and the check of a file before vlmperf opens it.

The tables and their columns, the version stamp (`application_id` tells a vlmperf store from any
other SQLite file, `user_version` its layout), what each later version added (what migrating an
older store adds), and `inspect_file`: what a file is, read without writing to it, so a foreign,
damaged or newer file is refused with one line and left byte for byte as it was.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from vlmperf.errors import InputError

SCHEMA = """
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


APPLICATION_ID = 0x766C6D70
"""`PRAGMA application_id` of a vlmperf store ("vlmp"): tells a store from any other SQLite file."""
SCHEMA_VERSION = 1
"""`PRAGMA user_version` of the store layout this code writes; 0 is a store made before the stamp."""
COLUMNS = {
    "runs": ("id", "created", "name", "status", "owner", "manifest"),
    "cells": (
        "run_id",
        "cell_id",
        "position",
        "config",
        "swept",
        "status",
        "error",
        "summary",
        "info",
        "started",
        "finished",
    ),
    "records": ("run_id", "cell_id", "seq", "data"),
}
"""The columns of each table at SCHEMA_VERSION (a store of version 0 has the same)."""
ADDED_COLUMNS: dict[int, list[tuple[str, str, str]]] = {}
"""Per version, the (table, column, declaration) it added: what migrating an older store adds."""
FIX = "move it aside and run again, or restore it from a copy"


def _tables(db: sqlite3.Connection) -> dict[str, list[str]]:
    names = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    return {name: [r[1] for r in db.execute(f"PRAGMA table_info({_quoted(name)})")] for name in names}


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def inspect_file(path: Path) -> tuple[str, int]:
    """What the file at `path` is, read without writing: ("empty", 0) or ("store", version).

    Raises InputError (one line, saying what to do) for a file that is not SQLite, a foreign
    SQLite file, a damaged store, or a store of a newer version.
    """
    try:
        with closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=30)) as db:
            problems = [str(r[0]) for r in db.execute("PRAGMA quick_check").fetchall()]
            if problems != ["ok"]:
                found = problems[0][:200] + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else "")
                raise InputError(f"the store at {path} is damaged (quick_check: {found}): {FIX}")
            app_id = db.execute("PRAGMA application_id").fetchone()[0]
            version = db.execute("PRAGMA user_version").fetchone()[0]
            tables = _tables(db)
            has_other = db.execute("SELECT count(*) FROM sqlite_master WHERE type != 'table'").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        if "not a database" in str(exc):
            raise InputError(
                f"{path} is not a readable vlmperf store: not an SQLite file ({exc}): move it away or point --out at "
                "another folder"
            ) from exc
        if "malformed" in str(exc) or "corrupt" in str(exc):
            raise InputError(f"the store at {path} is damaged ({exc}): {FIX}") from exc
        raise InputError(f"cannot read the results store {path} ({exc}): check the file and its folder") from exc
    ours = app_id == APPLICATION_ID
    if not tables and not has_other and (ours or (app_id == 0 and version == 0)):
        return "empty", 0
    if not ours:
        if app_id != 0 or version != 0 or not set(COLUMNS) <= set(tables):
            listed = ", ".join(sorted(tables)[:5]) or "none"
            raise InputError(
                f"{path} is a foreign SQLite file, not a vlmperf store (its tables: {listed}): point --out at a "
                "vlmperf results folder, or a new one"
            )
        version = 0  # a store made before the version stamp
    elif version > SCHEMA_VERSION:
        raise InputError(
            f"the store at {path} was made by a newer vlmperf (store version {version}; this one knows up to "
            f"{SCHEMA_VERSION}): upgrade vlmperf (pip install -U vlmperf), or point --out at another folder"
        )
    for table, expected in COLUMNS.items():
        # an older store may lack the columns added since; migrating adds them
        later = {
            c for v in range(version + 1, SCHEMA_VERSION + 1) for t, c, _ in ADDED_COLUMNS.get(v, []) if t == table
        }
        if table not in tables:
            raise InputError(f"the store at {path} is damaged: it has no table {table}: {FIX}")
        missing = [c for c in expected if c not in tables[table] and c not in later]
        extra = [c for c in tables[table] if c not in expected]
        if missing or extra:
            said = "; ".join(
                f"{what}: {', '.join(cols)}" for what, cols in (("missing", missing), ("extra", extra)) if cols
            )
            raise InputError(
                f"the store at {path} is damaged or not vlmperf's: its table {table} has other columns ({said}): {FIX}"
            )
    return "store", version
