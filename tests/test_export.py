"""`vlmperf export`: summaries and records as CSV and Parquet, read back by pandas as they were stored."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import vlmperf.api as vp
from vlmperf.errors import InputError
from vlmperf.report.export import export_run, record_rows
from vlmperf.report.schema import run_document
from vlmperf.store.sqlite import Store

pandas = pytest.importorskip("pandas")

QUICK = [
    "measure.min_runs=2",
    "measure.warmup_runs=0",
    "measure.min_duration_s=0",
    "generation.max_new_tokens=3",
    "workload.limit=3",
    "sweep.grid.scenario.batch_size=[1, 3]",
]


@pytest.fixture(scope="module")
def stored(tmp_path_factory, vlmperf_cache):
    """One real small run of the built-in model: its store folder, document and records."""
    out = tmp_path_factory.mktemp("export") / "results"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("VLMPERF_CACHE", str(vlmperf_cache))
        outcome = vp.run(overrides=QUICK, out=out)
    with Store.open(out, create=False) as store:
        return out, run_document(store, outcome.run_id), store.records(outcome.run_id)


def test_summaries_round_trip_through_csv_and_parquet(stored, tmp_path):
    pytest.importorskip("pyarrow")
    _, document, _ = stored
    for format, read in (("csv", pandas.read_csv), ("parquet", pandas.read_parquet)):
        path = tmp_path / f"cells.{format}"
        assert export_run(document, None, path, format=format, what="summaries") == 2
        frame = read(path)
        assert list(frame["scenario.batch_size"]) == [1, 3]
        assert list(frame["cell_id"]) == [c["id"] for c in document["cells"]]
        assert list(frame["latency_s.p50"]) == pytest.approx(
            [c["metrics"]["latency_s"]["p50"] for c in document["cells"]]
        )
        assert list(frame["wer.value"]) == pytest.approx([c["metrics"]["wer"]["value"] for c in document["cells"]])


def test_records_round_trip_through_csv_with_nested_values_as_json(stored, tmp_path):
    _, document, records = stored
    path = tmp_path / "records.csv"
    assert export_run(document, records, path, what="records") == len(records) == 5
    frame = pandas.read_csv(path)
    assert list(frame.columns[:5]) == ["run_id", "cell_id", "seq", "cell_status", "target.kind"]
    assert set(frame["run_id"]) == {document["run"]["id"]} and set(frame["cell_status"]) == {"ok"}
    for row, record in zip(frame.to_dict("records"), records, strict=True):
        assert row["scenario.batch_size"] == record["batch_size"], "each record carries its cell's config"
        assert row["latency_s"] == pytest.approx(record["latency_s"])
        assert json.loads(row["sample_ids"]) == record["sample_ids"]
        assert json.loads(row["outputs"]) == record["outputs"]
        assert json.loads(row["stages"]) == pytest.approx(record["stages"])
        assert pandas.isna(row["energy"]), "null is an empty field"


def test_records_round_trip_through_parquet_with_native_lists_and_structs(stored, tmp_path):
    pytest.importorskip("pyarrow")
    _, document, records = stored
    path = tmp_path / "records.parquet"
    export_run(document, records, path, format="parquet", what="records")
    frame = pandas.read_parquet(path)
    assert len(frame) == 5 and frame["seq"].dtype.kind == "i"
    for row, record in zip(frame.to_dict("records"), records, strict=True):
        assert list(row["sample_ids"]) == record["sample_ids"] and list(row["outputs"]) == record["outputs"]
        assert list(row["output_tokens"]) == record["output_tokens"]
        assert row["flops"] == record["flops"], "a mapping stays a struct"
        assert row["stages"]["decode_s"] == pytest.approx(record["stages"]["decode_s"])


def _tiny_document():
    cell = {
        "id": "c1",
        "config": {"target.kind": "endpoint", "workload.columns": {"image": "img"}},
        "swept": {},
        "status": "ok",
        "error": None,
        "metrics": {},
        "info": {},
    }
    return {"run": {"id": "r1", "name": "t", "status": "complete"}, "cells": [cell]}


def test_columns_arrow_cannot_type_become_json_text(tmp_path):
    pytest.importorskip("pyarrow")
    records = [
        {"cell_id": "c1", "seq": 0, "mixed": "text", "empty": {}, "error": None, "itl_s": [0.1, 0.2]},
        {"cell_id": "c1", "seq": 1, "mixed": [1, 2], "empty": {}, "error": {"class": "timeout"}, "itl_s": []},
        {"cell_id": "gone", "seq": 0, "mixed": 1},  # a cell not in the document: not exported
    ]
    header, rows = record_rows(_tiny_document(), records)
    assert len(rows) == 2 and header[-4:] == ["mixed", "empty", "error", "itl_s"]
    path = tmp_path / "records.parquet"
    export_run(_tiny_document(), records, path, format="parquet", what="records")
    frame = pandas.read_parquet(path)
    assert [json.loads(v) for v in frame["mixed"]] == ["text", [1, 2]]
    assert [json.loads(v) for v in frame["empty"]] == [{}, {}], "Parquet cannot store an empty struct"
    assert frame["error"][1] == {"class": "timeout"} and list(frame["itl_s"][0]) == [0.1, 0.2]
    assert frame["workload.columns"][0] == {"image": "img"}


def test_parquet_without_pyarrow_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # import pyarrow now raises ImportError
    path = tmp_path / "cells.parquet"
    with pytest.raises(InputError, match=r"pip install pyarrow \(or export --format csv\)"):
        export_run(_tiny_document(), None, path, format="parquet")
    assert not path.exists()


def test_unknown_choices_and_unwritable_paths_say_what_to_do(tmp_path):
    with pytest.raises(InputError, match="--format 'xlsx' is not known; use one of: csv, parquet"):
        export_run(_tiny_document(), None, tmp_path / "x", format="xlsx")
    with pytest.raises(InputError, match="--what 'cells' is not known; use one of: summaries, records"):
        export_run(_tiny_document(), None, tmp_path / "x", what="cells")
    with pytest.raises(InputError, match="give -o a file in an existing, writable folder"):
        export_run(_tiny_document(), None, tmp_path / "no" / "such" / "cells.csv")


@pytest.mark.slow
def test_the_command(stored, tmp_path, vlmperf_env):
    out, document, _ = stored
    path = tmp_path / "records.csv"
    command = [
        sys.executable,
        "-m",
        "vlmperf",
        "export",
        "latest",
        "--what",
        "records",
        "-o",
        str(path),
        "--out",
        str(out),
    ]
    result = subprocess.run(command, env=vlmperf_env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert f"wrote 5 rows of records to {path}" in result.stderr
    assert len(pandas.read_csv(path)) == 5
    missing = subprocess.run(
        command[:-4] + ["--out", str(out)], env=vlmperf_env, capture_output=True, text=True, timeout=120
    )
    assert missing.returncode == 2 and "error: export needs a file to write: give -o PATH" in missing.stderr
