"""Dataset sources must give the right rows with the right references, the same rows for the same
seed, a record of which rows those were, and clear errors for bad input; a broken image is a
failed sample, not a crashed run.

The hub path is fed local folders laid out like the hub repos (no hub on the test machines), so
these tests run the real `datasets` loading code, not a mock.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
from datasets import Dataset
from pydantic import ValidationError

from vlmperf.errors import InputError
from vlmperf.workloads.datasets import (
    GENERIC_COLUMNS,
    PRESETS,
    ColumnMap,
    DatasetSource,
    get_preset,
    load_dataset_samples,
)
from vlmperf.workloads.datasets.through_datasets import resolved_commit

from fixtures import hub_datasets as fx
from fixtures.hub_datasets import load_preset


@pytest.fixture(scope="module")
def repos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every fixture dataset, built once for the module."""
    root = tmp_path_factory.mktemp("datasets")
    return {
        "coco": fx.build_coco_caption2017(root / "COCO-Caption2017"),
        "textvqa": fx.build_textvqa(root / "textvqa"),
        "scienceqa": fx.build_scienceqa(root / "ScienceQA"),
        "caption_parquet": fx.build_caption_parquet(root / "captions" / "captions.parquet"),
        "vqa": fx.build_vqa_repo(root / "vqa"),
    }


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hf-cache")


def assert_image_of_row(sample, index: int) -> None:
    """The sample's image is the flat colour of its row (JPEG: within a few levels)."""
    (image,) = sample.images
    assert image.mode == "RGB"
    pixel = image.getpixel((image.width // 2, image.height // 2))
    assert all(abs(a - b) <= 4 for a, b in zip(pixel, fx.row_colour(index), strict=True)), (pixel, fx.row_colour(index))


# --- the three study datasets, through the hub code path -------------------------------------


def test_coco_preset_reads_five_captions_per_image_from_the_val_split(repos, cache):
    loaded = load_preset("coco-caption2017", repos["coco"], cache)
    assert [s.id for s in loaded.samples] == [fx.coco_question_id(i) for i in range(fx.N_ROWS)]
    assert loaded.failed == []
    for index, sample in enumerate(loaded.samples):
        assert sample.references.captions == tuple(fx.coco_captions(index))
        assert_image_of_row(sample, index)
        assert sample.meta["split"] == "val" and sample.meta["row_index"] == index
    assert loaded.provenance.split == "val"
    assert loaded.provenance.n_available == fx.N_ROWS  # the test split's rows are not mixed in


def test_textvqa_preset_reads_ten_answers_and_ocr_tokens_and_fails_the_corrupt_image_alone(repos, cache):
    loaded = load_preset("textvqa", repos["textvqa"], cache)
    corrupt_id = str(fx.TEXTVQA_FIRST_QUESTION_ID + fx.TEXTVQA_CORRUPT_ROW)
    assert [f.id for f in loaded.failed] == [corrupt_id]
    assert loaded.failed[0].index == fx.TEXTVQA_CORRUPT_ROW
    assert "not a decodable image" in loaded.failed[0].reason
    assert len(loaded.samples) == fx.N_ROWS - 1
    assert corrupt_id not in {s.id for s in loaded.samples}
    sample = loaded.samples[2]
    assert sample.id == str(fx.TEXTVQA_FIRST_QUESTION_ID + 2)
    assert sample.references.question == "what does sign 2 say?"
    assert sample.references.answers == tuple(fx.textvqa_answers(2))
    assert sample.meta["ocr_tokens"] == ["sign", "2"]
    assert_image_of_row(sample, 2)
    assert loaded.provenance.indices == tuple(range(fx.N_ROWS))  # the failed row was selected too


def test_scienceqa_preset_reads_the_config_and_split_with_choices_answer_and_hint(repos, cache):
    loaded = load_preset("scienceqa-img", repos["scienceqa"], cache)
    assert loaded.provenance.name == "ScienceQA-IMG" and loaded.provenance.split == "test"
    assert [s.id for s in loaded.samples] == [str(i) for i in range(fx.N_ROWS)]  # no id column: row numbers
    for index, sample in enumerate(loaded.samples):
        assert sample.references.choices == tuple(fx.scienceqa_choices(index))
        assert sample.references.answer_index == fx.scienceqa_answer(index)
        assert sample.meta["hint"] == (f"Context for picture {index}." if index % 2 else "")
        assert_image_of_row(sample, index)


def test_presets_name_the_lmms_eval_datasets():
    """lmms-eval's ids since 4be7ee0 (read at 75571cfe), falling back to the former lmms-lab copies."""
    assert {name: (p.source.path, p.source.name, p.source.split) for name, p in PRESETS.items()} == {
        "coco-caption2017": ("lmms-lab-encoder/COCO-Caption2017", None, "val"),
        "textvqa": ("lmms-lab-encoder/textvqa", None, "validation"),
        "scienceqa-img": ("lmms-lab-encoder/ScienceQA", "ScienceQA-IMG", "test"),
    }
    assert {name: p.fallback_paths for name, p in PRESETS.items()} == {
        "coco-caption2017": ("lmms-lab/COCO-Caption2017",),
        "textvqa": ("lmms-lab/textvqa",),
        "scienceqa-img": ("lmms-lab/ScienceQA",),
    }
    with pytest.raises(InputError, match="known presets"):
        get_preset("vqav2")


# --- subset selection ---------------------------------------------------------------------------


def test_a_seeded_subset_is_reproducible_and_its_indices_are_recorded(repos, cache):
    first = load_preset("coco-caption2017", repos["coco"], cache, limit=5, seed=7)
    again = load_preset("coco-caption2017", repos["coco"], cache, limit=5, seed=7)
    expected = sorted(random.Random(7).sample(range(fx.N_ROWS), 5))
    assert first.provenance.indices == again.provenance.indices == tuple(expected)
    assert [s.id for s in first.samples] == [fx.coco_question_id(i) for i in expected]
    assert first.provenance.selection == "random" and first.provenance.seed == 7 and first.provenance.limit == 5
    assert first.provenance.subset_id == again.provenance.subset_id
    other = load_preset("coco-caption2017", repos["coco"], cache, limit=5, seed=8)
    assert other.provenance.indices != first.provenance.indices
    assert other.provenance.subset_id != first.provenance.subset_id


def test_streaming_with_a_known_length_takes_the_same_rows_as_random_access(repos, cache):
    indexed = load_preset("textvqa", repos["textvqa"], cache, limit=6, seed=3)
    streamed = load_preset("textvqa", repos["textvqa"], cache, limit=6, seed=3, streaming=True)
    assert streamed.provenance.indices == indexed.provenance.indices
    assert [s.id for s in streamed.samples] == [s.id for s in indexed.samples]
    assert [f.id for f in streamed.failed] == [f.id for f in indexed.failed]
    assert streamed.provenance.streaming and streamed.provenance.selection == "random"
    assert streamed.provenance.n_available == fx.N_ROWS


def test_streaming_without_a_card_uses_a_seeded_reservoir(repos, cache):
    source = DatasetSource(kind="hub", path=str(repos["vqa"]), streaming=True, limit=4, seed=11)
    first = load_dataset_samples(source, GENERIC_COLUMNS["vqa"], cache_dir=cache)
    again = load_dataset_samples(source, GENERIC_COLUMNS["vqa"], cache_dir=cache)
    assert first.provenance.selection == "reservoir"
    assert first.provenance.indices == again.provenance.indices
    assert list(first.provenance.indices) == sorted(first.provenance.indices) and len(first.provenance.indices) == 4
    assert first.provenance.n_available == fx.N_ROWS  # counted while streaming, across both shards
    assert [s.id for s in first.samples] == [f"vqa-{i}" for i in first.provenance.indices]
    for index, sample in zip(first.provenance.indices, first.samples, strict=True):
        assert sample.references.question == f"what is in picture {index}?"
        assert_image_of_row(sample, index)


def test_selection_first_takes_the_leading_rows_streaming_or_not(repos, cache):
    for streaming in (False, True):
        source = DatasetSource(kind="hub", path=str(repos["vqa"]), streaming=streaming, limit=3, selection="first")
        loaded = load_dataset_samples(source, GENERIC_COLUMNS["vqa"], cache_dir=cache)
        assert loaded.provenance.indices == (0, 1, 2) and loaded.provenance.selection == "first"


def test_a_limit_above_the_split_size_takes_every_row(repos, cache):
    loaded = load_preset("scienceqa-img", repos["scienceqa"], cache, limit=500)
    assert loaded.provenance.selection == "all" and len(loaded.samples) == fx.N_ROWS


def test_the_requested_revision_is_recorded(repos, cache):
    loaded = load_preset("textvqa", repos["textvqa"], cache, revision="v1.0", limit=2)
    assert loaded.provenance.requested_revision == "v1.0"
    assert loaded.provenance.revision == "v1.0"  # a local folder has no hub commit to resolve
    manifest = json.loads(json.dumps(loaded.provenance.to_dict()))
    assert manifest["revision"] == "v1.0" and manifest["indices"] == list(loaded.provenance.indices)
    assert manifest["split"] == "validation" and manifest["path"] == str(repos["textvqa"])
    assert manifest["requested_path"] == manifest["path"]


def test_the_hub_commit_is_read_from_the_builder_base_path():
    sha = "3bdd5827e243cc3084ac69a1111e69c3ab9193ff"
    assert resolved_commit(f"hf://datasets/lmms-lab/COCO-Caption2017@{sha}") == sha
    assert resolved_commit(f"hf://datasets/lmms-lab/ScienceQA@{sha}/ScienceQA-IMG") == sha
    assert resolved_commit("/tmp/some/local/folder") is None
    assert resolved_commit(None) is None


# --- local kinds ----------------------------------------------------------------------------


def test_a_parquet_file_a_folder_and_a_glob_give_the_same_rows(repos, cache):
    file = repos["caption_parquet"]
    for path in (file, file.parent, file.parent / "*.parquet"):
        loaded = load_dataset_samples(
            DatasetSource(kind="parquet", path=str(path)), GENERIC_COLUMNS["caption"], cache_dir=cache
        )
        assert [s.id for s in loaded.samples] == [f"cap-{i}" for i in range(fx.N_ROWS)]
        assert loaded.samples[3].references.captions == ("picture 3",)
        assert_image_of_row(loaded.samples[3], 3)
        assert loaded.provenance.split is None and loaded.provenance.n_available == fx.N_ROWS


def test_streaming_parquet_knows_its_length_from_the_file_footers(repos, cache):
    source = DatasetSource(kind="parquet", path=str(repos["caption_parquet"]), limit=4, seed=2)
    indexed = load_dataset_samples(source, GENERIC_COLUMNS["caption"], cache_dir=cache)
    streamed = load_dataset_samples(
        source.model_copy(update={"streaming": True}), GENERIC_COLUMNS["caption"], cache_dir=cache
    )
    assert streamed.provenance.selection == "random"
    assert (
        streamed.provenance.indices
        == indexed.provenance.indices
        == tuple(sorted(random.Random(2).sample(range(12), 4)))
    )


def test_jsonl_reads_images_relative_to_its_folder_and_fails_a_missing_image_alone(tmp_path):
    path = fx.build_jsonl(tmp_path / "set", n=6, missing_image_row=4)
    loaded = load_dataset_samples(DatasetSource(kind="jsonl", path=str(path)), GENERIC_COLUMNS["vqa"])
    assert [s.id for s in loaded.samples] == ["j-0", "j-1", "j-2", "j-3", "j-5"]  # the blank line is no row
    assert [(f.id, f.index) for f in loaded.failed] == [("j-4", 4)]
    assert "no image file" in loaded.failed[0].reason
    assert loaded.samples[2].references.question == "q2?" and loaded.samples[2].references.answers == ("a2",)
    assert loaded.samples[2].images[0].getpixel((0, 0)) == fx.row_colour(2)  # PNG: exact
    assert loaded.provenance.n_available == 6


def test_jsonl_image_dir_overrides_the_image_root(tmp_path):
    folder = fx.build_jsonl(tmp_path / "set", n=3).parent
    jsonl = (folder / "data.jsonl").rename(tmp_path / "moved.jsonl")  # images stay behind in set/
    source = DatasetSource(kind="jsonl", path=str(jsonl), image_dir=str(folder))
    loaded = load_dataset_samples(source, GENERIC_COLUMNS["vqa"])
    assert loaded.failed == [] and [s.id for s in loaded.samples] == ["j-0", "j-1", "j-2"]
    without = load_dataset_samples(source.model_copy(update={"image_dir": None}), GENERIC_COLUMNS["vqa"])
    assert len(without.failed) == 3  # relative to the jsonl's own folder, the images are not there


def test_image_paths_that_leave_the_dataset_folder_are_refused_unless_allowed(tmp_path):
    """A dataset file is input from elsewhere: `../` and absolute paths would read any file of this user."""
    jsonl = fx.build_jsonl(tmp_path / "set", n=4)
    outside = tmp_path / "secret.png"
    outside.write_bytes(fx.image_bytes(9, "PNG"))
    lines = jsonl.read_text().splitlines()
    rows = [json.loads(line) for line in lines if line.strip()]
    rows[1]["image"] = "../secret.png"
    rows[2]["image"] = str(outside)
    (jsonl.parent / "images" / "link.png").symlink_to(outside)
    rows[3]["image"] = "images/link.png"
    jsonl.write_text("".join(json.dumps(row) + "\n" for row in rows))
    source = DatasetSource(kind="jsonl", path=str(jsonl))
    confined = load_dataset_samples(source, GENERIC_COLUMNS["vqa"])
    assert [s.id for s in confined.samples] == ["j-0"]
    assert [f.id for f in confined.failed] == ["j-1", "j-2", "j-3"]
    assert all(
        "leads outside the dataset's folder" in f.reason and "allow_paths_outside" in f.reason for f in confined.failed
    )
    allowed = load_dataset_samples(source.model_copy(update={"allow_paths_outside": True}), GENERIC_COLUMNS["vqa"])
    assert allowed.failed == [] and len(allowed.samples) == 4


def test_imagefolder_with_metadata_jsonl_loads_and_fails_the_corrupt_image_alone(tmp_path, cache):
    folder = fx.build_imagefolder(tmp_path / "folder", n=5, corrupt_row=2)
    loaded = load_dataset_samples(
        DatasetSource(kind="imagefolder", path=str(folder)), GENERIC_COLUMNS["caption"], cache_dir=cache
    )
    assert [s.id for s in loaded.samples] == ["f-0", "f-1", "f-3", "f-4"]
    assert [f.id for f in loaded.failed] == ["f-2"]
    assert loaded.samples[2].references.captions == ("picture 3",)
    assert loaded.samples[2].images[0].getpixel((0, 0)) == fx.row_colour(3)
    assert loaded.provenance.split == "train"


# --- bad input ------------------------------------------------------------------------------


def test_a_missing_column_names_it_and_the_columns_that_exist(repos, cache):
    columns = ColumnMap(id="question_id", image="image", captions="captions")  # COCO calls them `answer`
    source = DatasetSource(kind="hub", path=str(repos["coco"]), split="val")
    with pytest.raises(InputError) as error:
        load_dataset_samples(source, columns, cache_dir=cache)
    assert "captions -> 'captions'" in str(error.value)
    assert "'answer'" in str(error.value) and "'question_id'" in str(error.value)
    with pytest.raises(InputError, match="captions -> 'captions'"):
        load_dataset_samples(source.model_copy(update={"streaming": True}), columns, cache_dir=cache)


def test_a_missing_meta_column_is_named_too(repos, cache):
    columns = PRESETS["textvqa"].columns.model_copy(update={"meta": {"ocr": "ocr_tokenz"}})
    with pytest.raises(InputError, match="meta.ocr -> 'ocr_tokenz'"):
        load_dataset_samples(DatasetSource(path=str(repos["textvqa"])), columns, cache_dir=cache)


def test_an_empty_dataset_is_an_input_error(tmp_path, cache):
    empty = Dataset.from_dict({"id": [], "image": [], "captions": []}, features=fx.CAPTION_FEATURES)
    fx.write_hub_repo(tmp_path / "empty", {"test": empty})
    with pytest.raises(InputError, match="has no rows"):
        load_dataset_samples(DatasetSource(path=str(tmp_path / "empty")), GENERIC_COLUMNS["caption"], cache_dir=cache)
    with pytest.raises(InputError, match="has no rows"):
        load_dataset_samples(
            DatasetSource(path=str(tmp_path / "empty"), streaming=True), GENERIC_COLUMNS["caption"], cache_dir=cache
        )
    (tmp_path / "empty.jsonl").write_text("\n", encoding="utf-8")
    with pytest.raises(InputError, match="has no rows"):
        load_dataset_samples(
            DatasetSource(kind="jsonl", path=str(tmp_path / "empty.jsonl")), GENERIC_COLUMNS["caption"]
        )


@pytest.mark.parametrize("kind", ["hub", "parquet", "jsonl", "imagefolder"])
def test_a_missing_file_or_folder_is_an_input_error_naming_it(tmp_path, cache, kind):
    missing = tmp_path / "nowhere" / "data"
    with pytest.raises(InputError, match="nowhere"):
        load_dataset_samples(DatasetSource(kind=kind, path=str(missing)), GENERIC_COLUMNS["caption"], cache_dir=cache)


def test_an_unknown_split_lists_the_splits_and_an_unknown_config_lists_the_configs(repos, cache):
    with pytest.raises(InputError, match="no split 'train'.*val, test"):
        load_preset("coco-caption2017", repos["coco"], cache, split="train")
    with pytest.raises(InputError, match="several splits"):
        load_preset("coco-caption2017", repos["coco"], cache, split=None)
    with pytest.raises(InputError, match="ScienceQA-IMG"):
        load_preset("scienceqa-img", repos["scienceqa"], cache, name="ScienceQA-FULL")


def test_repeated_ids_are_an_input_error(repos, cache):
    columns = ColumnMap(id="question", image="image", captions="answer")  # every row asks the same question
    with pytest.raises(InputError, match="must be unique"):
        load_dataset_samples(DatasetSource(path=str(repos["coco"]), split="val"), columns, cache_dir=cache)


def test_a_malformed_jsonl_line_is_named(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"id": "a", "image": "x.png"}\n{not json}\n', encoding="utf-8")
    with pytest.raises(InputError, match="bad.jsonl, line 2: not JSON"):
        load_dataset_samples(
            DatasetSource(kind="jsonl", path=str(path)),
            GENERIC_COLUMNS["caption"].model_copy(update={"captions": None}),
        )


def test_an_unusable_reference_fails_its_row_with_the_column_named(tmp_path):
    path = tmp_path / "refs.jsonl"
    (tmp_path / "0.png").write_bytes(fx.image_bytes(0, "PNG"))
    lines = [
        {"id": "ok", "image": "0.png", "question": "q", "choices": ["x", "y"], "answer": "B"},
        {"id": "bad", "image": "0.png", "question": "q", "choices": ["x", "y"], "answer": 7},
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    loaded = load_dataset_samples(DatasetSource(kind="jsonl", path=str(path)), GENERIC_COLUMNS["mcq"])
    assert [s.references.answer_index for s in loaded.samples] == [1]  # a letter is a choice index
    assert [f.id for f in loaded.failed] == ["bad"] and "'answer'" in loaded.failed[0].reason


def test_specs_reject_fields_that_do_not_fit_the_kind():
    with pytest.raises(ValidationError, match="name applies to hub"):
        DatasetSource(kind="parquet", path="x.parquet", name="cfg")
    with pytest.raises(ValidationError, match="streaming applies"):
        DatasetSource(kind="jsonl", path="x.jsonl", streaming=True)
    with pytest.raises(ValidationError, match="split applies"):
        DatasetSource(kind="parquet", path="x.parquet", split="test")
    with pytest.raises(ValidationError):
        DatasetSource(path="x", limit=0)
    with pytest.raises(ValidationError, match="reserved"):
        ColumnMap(meta={"split": "split"})
    with pytest.raises(ValidationError):
        DatasetSource(path="x", colums={})  # a typo is an error, not ignored


def test_importing_the_package_does_not_import_datasets_or_torch():
    code = "import sys, vlmperf.workloads.datasets; print('datasets' in sys.modules, 'torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["False", "False"]


def test_a_hub_id_that_cannot_be_reached_is_an_input_error(tmp_path):
    """The real hub branch of `datasets`, run offline: the error names the id and says why."""
    code = (
        "from vlmperf.errors import InputError\n"
        "from vlmperf.workloads.datasets import PRESETS, load_dataset_samples\n"
        "p = PRESETS['textvqa']\n"
        "try:\n"
        "    load_dataset_samples(p.source, p.columns, fallback_paths=p.fallback_paths)\n"
        "except InputError as e:\n"
        "    print(e)\n"
    )
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "HF_HOME": str(tmp_path / "hf"),
        "HF_DATASETS_CACHE": str(tmp_path / "ds"),
    }
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120, check=True
    )
    assert "cannot open hub dataset 'lmms-lab-encoder/textvqa'" in result.stdout, result.stderr
    assert "cannot open hub dataset 'lmms-lab/textvqa'" in result.stdout, "the former id was tried too"
    assert "no local folder" in result.stdout
