"""The `process` executor: each group in a child process; a crash, a memory blow-up or a hang fails
its own cell, with the right cause, and every other cell finishes.

The faults come from a real model loaded by the real loader: a tiny Llama whose remote code
(`fixtures/modeling_faulty.py`, trust_remote_code) exits, allocates without end or hangs when
it sees a batch of 2.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import vlmperf.api as vp

FIXTURES = Path(__file__).parent / "fixtures"
QUICK = [
    "measure.min_runs=2",
    "measure.warmup_runs=1",
    "measure.min_duration_s=0",
    "measure.flops=false",
    "generation.max_new_tokens=4",
    "workload.task=text",
    "workload.limit=2",
    "target.threads=1",
]


def _faulty_model(base: Path, folder: Path, fault: str) -> Path:
    """The tiny Llama of `base`, with remote code that strikes with `fault` at batch size 2."""
    shutil.copytree(base, folder)
    config = json.loads((folder / "config.json").read_text())
    config.update(
        fault=fault,
        fault_batch_size=2,
        auto_map={"AutoModelForCausalLM": "modeling_faulty.FaultyLlamaForCausalLM"},
    )
    (folder / "config.json").write_text(json.dumps(config))
    shutil.copy(FIXTURES / "modeling_faulty.py", folder / "modeling_faulty.py")
    return folder


@pytest.fixture
def faulty_models(text_model_dir, tmp_path):
    return {
        fault: _faulty_model(text_model_dir, tmp_path / f"faulty-{fault}", fault)
        for fault in ("exit", "allocate", "hang")
    }


@pytest.mark.slow
def test_a_crash_a_memory_blow_up_and_a_hang_fail_their_own_cells_only(faulty_models, tmp_path, monkeypatch):
    monkeypatch.setenv("VLMPERF_CACHE", str(tmp_path / "cache"))
    models = ", ".join(str(faulty_models[f]) for f in ("exit", "allocate", "hang"))
    out = tmp_path / "results"
    outcome = vp.run(
        overrides=[
            *QUICK,
            "target.trust_remote_code=true",
            f"sweep.grid.target.model=[{models}]",
            "sweep.grid.scenario.batch_size=[1, 2]",
            "executor.kind=process",
            "executor.max_retries=0",
            "executor.cell_timeout_s=10",
            "executor.memory_gb=2",
        ],
        out=out,
    )
    cells = vp.report(outcome.run_id, out=out)["cells"]
    by = {(Path(c["config"]["target.model"]).name, c["config"]["scenario.batch_size"]): c for c in cells}
    assert len(by) == 6 and outcome.failed == 3
    for fault in ("exit", "allocate", "hang"):
        healthy = by[(f"faulty-{fault}", 1)]
        assert healthy["status"] == "ok", (fault, healthy.get("error"))
        assert healthy["info"]["executor"]["kind"] == "process"
        assert healthy["metrics"]["latency_s"]["n"] >= 2
    exited, hoarded, hung = (by[(f"faulty-{fault}", 2)] for fault in ("exit", "allocate", "hang"))
    assert exited["error"]["type"] == "ProcessDied" and "exited with code 3" in exited["error"]["message"]
    assert hoarded["error"]["type"] == "MemoryLimit" and "past executor.memory_gb 2" in hoarded["error"]["message"]
    assert hung["error"]["type"] == "CellTimeout" and "more than 10 s" in hung["error"]["message"]
    for failed in (exited, hoarded, hung):
        assert failed["info"]["failed_at"] == "warm-up", failed["info"]
        assert failed["info"]["executor"]["kind"] == "process"
