"""The study's datasets where lmms-eval reads them now: moved hub ids, only the split used fetched,
and splits without references refused (the presets' columns and rows: test_dataset_sources.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from vlmperf.errors import InputError
from vlmperf.workloads.datasets import GENERIC_COLUMNS, PRESETS, DatasetSource, load_dataset_samples

from fixtures import hub_datasets as fx
from fixtures.hub_datasets import load_preset


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hf-cache")


# --- moved hub ids: the preset's current id first, its former id when that cannot be opened ------

FALLBACK_SCRIPT = """
import json, sys
from vlmperf.config.spec import Workload
from vlmperf.errors import InputError
from vlmperf.workloads.sources import load_workload
workload = Workload.model_validate(json.loads(sys.argv[1]))
try:
    print(json.dumps(load_workload(workload).provenance))
except InputError as e:
    print(json.dumps({"error": str(e)}))
"""


def _load_in(folder: Path, workload: dict, tmp_path: Path) -> dict:
    """Load a workload in a process whose working folder is `folder`, offline: a hub id that names a
    folder there is read from it (as the hub copy would be), any other id cannot be opened."""
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "HF_HOME": str(tmp_path / "hf"),
        "HF_DATASETS_CACHE": str(tmp_path / "ds"),
    }
    result = subprocess.run(
        [sys.executable, "-c", FALLBACK_SCRIPT, json.dumps(workload)],
        capture_output=True,
        text=True,
        env=env,
        cwd=folder,
        timeout=300,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_a_preset_reads_its_new_id_and_falls_back_to_the_former_one_recording_which(tmp_path):
    workload = {"task": "textvqa", "source": "dataset", "limit": 3}
    old_only = tmp_path / "old-only"
    fx.build_textvqa(old_only / "lmms-lab" / "textvqa")
    provenance = _load_in(old_only, workload, tmp_path)
    assert provenance["path"] == "lmms-lab/textvqa", provenance
    assert provenance["requested_path"] == "lmms-lab-encoder/textvqa"
    both = tmp_path / "both"
    fx.build_textvqa(both / "lmms-lab" / "textvqa")
    fx.build_textvqa(both / "lmms-lab-encoder" / "textvqa")
    provenance = _load_in(both, workload, tmp_path)
    assert provenance["path"] == provenance["requested_path"] == "lmms-lab-encoder/textvqa", "the new id comes first"


def test_an_id_named_in_the_config_is_used_as_given_and_its_error_names_the_moved_copy(tmp_path):
    folder = tmp_path / "new-only"
    fx.build_textvqa(folder / "lmms-lab-encoder" / "textvqa")
    named = {
        "task": "textvqa",
        "source": "dataset",
        "limit": 3,
        "dataset": {"path": "lmms-lab/textvqa", "split": "validation"},
    }
    outcome = _load_in(folder, named, tmp_path)
    assert "cannot open hub dataset 'lmms-lab/textvqa'" in outcome["error"], "no silent swap to another repo"
    assert "lmms-lab-encoder/textvqa" in outcome["error"] and "\n" not in outcome["error"]


# --- only the split used is fetched ----------------------------------------------------------


def test_only_the_chosen_split_is_read_the_others_are_never_opened(tmp_path):
    """The other splits' files are garbage: preparing every split (as `download_and_prepare()` on the
    whole repo does) fails on them; reading only the chosen split does not touch them."""
    repo = fx.build_coco_caption2017(tmp_path / "coco")
    fx.spoil_split(repo, "test")
    for streaming in (False, True):
        loaded = load_preset("coco-caption2017", repo, tmp_path / "cache", streaming=streaming, limit=4, seed=1)
        assert len(loaded.samples) == 4 and loaded.provenance.split == "val"
        assert loaded.provenance.n_available == fx.N_ROWS, "the card's split size is still read"
    prepared = [p.name for p in (tmp_path / "cache").rglob("*.arrow")]
    assert prepared and all("-val" in name for name in prepared), prepared


def test_the_split_builder_reads_at_the_commit_the_hub_resolved(tmp_path, monkeypatch):
    """The listing builder's resolved commit is recorded and passed on to the split's builder."""
    import datasets

    repo = fx.build_coco_caption2017(tmp_path / "coco")
    sha = "0123456789abcdef0123456789abcdef01234567"
    real = datasets.load_dataset_builder
    calls: list[dict] = []

    def recording(**kwargs):
        calls.append(kwargs)
        builder = real(**kwargs)
        if len(calls) == 1:  # the listing: as if the hub had resolved `main` to `sha`
            builder.base_path = f"hf://datasets/lmms-lab-encoder/COCO-Caption2017@{sha}"
        return builder

    monkeypatch.setattr(datasets, "load_dataset_builder", recording)
    loaded = load_preset("coco-caption2017", repo, tmp_path / "cache", limit=2)
    assert loaded.provenance.revision == sha
    assert calls[1]["revision"] == sha and list(calls[1]["data_files"]) == ["val"]


# --- empty references ------------------------------------------------------------------------


def test_a_split_whose_references_are_empty_is_refused_with_what_to_do(tmp_path, cache):
    repo = fx.build_textvqa(tmp_path / "textvqa", test_answers="empty")
    with pytest.raises(InputError) as error:
        load_preset("textvqa", repo, cache, split="test")
    message = str(error.value)
    assert str(repo) in message and "split 'test'" in message and "'answers'" in message
    assert "validation" in message and "\n" not in message
    speed_only = PRESETS["textvqa"].columns.model_copy(update={"answers": None})
    loaded = load_dataset_samples(DatasetSource(path=str(repo), split="test"), speed_only, cache_dir=cache)
    assert len(loaded.samples) + len(loaded.failed) == 4, "without an answers column it loads, for speed only"


def test_a_row_with_only_empty_references_is_a_failed_sample(tmp_path, cache):
    path = tmp_path / "refs.jsonl"
    (tmp_path / "0.png").write_bytes(fx.image_bytes(0, "PNG"))
    lines = [
        {"id": "ok", "image": "0.png", "question": "q", "answers": ["yes", ""]},
        {"id": "blank", "image": "0.png", "question": "q", "answers": ["", " "]},
        {"id": "none", "image": "0.png", "question": "q", "answers": []},
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    loaded = load_dataset_samples(DatasetSource(kind="jsonl", path=str(path)), GENERIC_COLUMNS["vqa"])
    assert [s.id for s in loaded.samples] == ["ok"]
    assert [f.id for f in loaded.failed] == ["blank", "none"] and "no reference" in loaded.failed[0].reason
