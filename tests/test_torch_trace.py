"""torch.profiler trace of one generate call: a Chrome trace with operators and module ranges."""

from __future__ import annotations

import gzip
import json

import torch

from vlmperf.backends.local.generate import generation_config
from vlmperf.backends.local.inputs import prepare_batch
from vlmperf.backends.local.loading import load_model
from vlmperf.backends.local.target import LocalTarget
from vlmperf.config.spec import Generation, Workload
from vlmperf.meters.torch_trace import MODULE_RANGE_PREFIX, export_trace
from vlmperf.workloads.sources import load_samples


def _hooks(model: torch.nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


def test_trace_is_chrome_json_with_matrix_ops_and_module_ranges(tmp_path, vlmperf_cache, monkeypatch):
    monkeypatch.setenv("VLMPERF_CACHE", str(vlmperf_cache))
    loaded = load_model(LocalTarget())
    batch = prepare_batch(
        loaded, load_samples(Workload(limit=1)), ["Describe the image."], max_input_len=None, device="cpu"
    )
    config = generation_config(loaded, Generation(max_new_tokens=3, mode="fixed"))
    loaded.model.generate(**batch.inputs, generation_config=config)  # transformers installs its own hooks here
    hooks_before = _hooks(loaded.model)
    path = tmp_path / "traces" / "generate.json"
    summary = export_trace(
        lambda: loaded.model.generate(**batch.inputs, generation_config=config), path, "cpu", model=loaded.model
    )
    events = json.loads(path.read_text())["traceEvents"]
    names = {event.get("name", "") for event in events}
    assert names & {"aten::mm", "aten::linear", "aten::addmm"}
    assert f"{MODULE_RANGE_PREFIX}model.language_model.layers.0 (LlamaDecoderLayer)" in names
    assert summary["path"] == str(path) and summary["events"] > 0 and summary["activities"] == ["cpu"]
    top = summary["top_ops_self_cpu"]
    assert top and all(op["self_s"] > 0 and not op["name"].startswith(MODULE_RANGE_PREFIX) for op in top)
    assert [op["self_s"] for op in top] == sorted((op["self_s"] for op in top), reverse=True)
    assert _hooks(loaded.model) == hooks_before


def test_trace_without_a_model_written_gzipped(tmp_path):
    layer = torch.nn.Linear(16, 16)
    summary = export_trace(lambda: layer(torch.ones(4, 16)), tmp_path / "t.json.gz", "cpu")
    events = json.loads(gzip.decompress((tmp_path / "t.json.gz").read_bytes()))["traceEvents"]
    assert {event.get("name") for event in events} & {"aten::addmm", "aten::linear"}
    assert summary["bytes"] > 0
