"""The built-in photos and the procedural scenes are the default inputs of every benchmark, so
their references must be complete and the procedural ones must be exact and reproducible."""

from __future__ import annotations

import json
import math
import shutil
from collections import Counter
from importlib import resources
from pathlib import Path

import pytest
from PIL import Image

from vlmperf.errors import InputError
from vlmperf.workloads.builtin import load_builtin_samples
from vlmperf.workloads.procedural import COLOURS, COUNT_WORDS, SHAPE_KINDS, generate_samples

ALLOWED_LICENCES = {"public domain", "CC0 1.0"}


@pytest.fixture(scope="module")
def builtin_samples():
    return load_builtin_samples()


@pytest.fixture
def data_copy(tmp_path: Path) -> Path:
    """A private copy of the packaged data folder that a test may damage."""
    source = resources.files("vlmperf.workloads").joinpath("data", "builtin")
    with resources.as_file(source) as source_path:
        return Path(shutil.copytree(source_path, tmp_path / "builtin"))


# --- built-in photos -------------------------------------------------------------------------


def test_at_least_eight_builtin_samples_with_unique_ids(builtin_samples):
    assert len(builtin_samples) >= 8
    assert len({sample.id for sample in builtin_samples}) == len(builtin_samples)


def test_builtin_references_are_complete(builtin_samples):
    for sample in builtin_samples:
        refs = sample.references
        assert len(refs.captions) >= 3, sample.id
        assert all(caption.strip() for caption in refs.captions), sample.id
        assert refs.question and refs.question.endswith("?"), sample.id
        assert len(refs.answers) == 10, sample.id
        assert 3 <= len(refs.choices) <= 4, sample.id
        assert refs.answer_index is not None and 0 <= refs.answer_index < len(refs.choices)
        # The right choice is also what most annotators answered.
        assert Counter(refs.answers).most_common(1)[0][0] == refs.choices[refs.answer_index]


def test_builtin_licences_and_meta(builtin_samples):
    for sample in builtin_samples:
        assert sample.meta["source"] == "builtin"
        assert sample.meta["licence"] in ALLOWED_LICENCES, sample.id
        assert sample.meta["file"] == f"{sample.id}.jpg"


def test_builtin_images_are_decoded_rgb_with_longer_side_256(builtin_samples):
    for sample in builtin_samples:
        assert len(sample.images) == 1
        image = sample.images[0]
        assert image.mode == "RGB", sample.id
        assert max(image.size) == 256, sample.id
        image.getpixel((0, 0))  # already decoded; must not need the file


def test_every_data_file_is_described_and_the_folder_is_small():
    folder = resources.files("vlmperf.workloads").joinpath("data", "builtin")
    entries = json.loads(folder.joinpath("samples.json").read_text(encoding="utf-8"))
    images = {item.name for item in folder.iterdir() if item.name.endswith(".jpg")}
    assert images == {entry["file"] for entry in entries}
    licences_text = folder.joinpath("LICENSES.md").read_text(encoding="utf-8")
    for entry in entries:
        assert entry["file"] in licences_text
        assert entry["source"].startswith("scikit-image ")
        assert entry["credit"]
    total = sum(len(item.read_bytes()) for item in folder.iterdir() if item.is_file())
    assert total < 300_000


def test_limit_keeps_the_first_samples(builtin_samples):
    assert [s.id for s in load_builtin_samples(limit=3)] == [s.id for s in builtin_samples[:3]]
    with pytest.raises(InputError):
        load_builtin_samples(limit=0)


def test_corrupt_image_raises_input_error_naming_the_file(data_copy: Path):
    (data_copy / "coffee.jpg").write_bytes(b"this is not a jpeg")
    with pytest.raises(InputError, match="coffee.jpg"):
        load_builtin_samples(folder=data_copy)


def test_missing_image_raises_input_error_naming_the_file(data_copy: Path):
    (data_copy / "chelsea.jpg").unlink()
    with pytest.raises(InputError, match="chelsea.jpg"):
        load_builtin_samples(folder=data_copy)


def test_missing_manifest_raises_input_error(data_copy: Path):
    (data_copy / "samples.json").unlink()
    with pytest.raises(InputError, match="samples.json"):
        load_builtin_samples(folder=data_copy)


# --- procedural scenes -----------------------------------------------------------------------


def _fingerprint(samples):
    return [(s.id, s.images[0].tobytes(), s.references, s.meta) for s in samples]


def test_procedural_same_seed_is_identical():
    assert _fingerprint(generate_samples(12, seed=7)) == _fingerprint(generate_samples(12, seed=7))


def test_procedural_different_seed_differs():
    first, second = generate_samples(6, seed=1), generate_samples(6, seed=2)
    assert [s.images[0].tobytes() for s in first] != [s.images[0].tobytes() for s in second]
    assert [s.references.captions for s in first] != [s.references.captions for s in second]


def test_procedural_sample_does_not_depend_on_n():
    longer = generate_samples(8, seed=5)
    assert _fingerprint(generate_samples(3, seed=5)) == _fingerprint(longer[:3])


@pytest.mark.parametrize("size", [16, 64, 224])
def test_procedural_images_and_references(size: int):
    samples = generate_samples(20, seed=11, size=size)
    for index, sample in enumerate(samples):
        assert sample.id == f"proc-11-{index}"
        assert sample.meta["source"] == "procedural"
        assert (sample.meta["seed"], sample.meta["index"]) == (11, index)
        image = sample.images[0]
        assert image.mode == "RGB" and image.size == (size, size)
        refs = sample.references
        assert len(refs.captions) >= 3
        assert len(refs.answers) == 10 and len(set(refs.answers)) == 1
        assert len(refs.choices) == 4 and len(set(refs.choices)) == 4
        assert refs.choices[refs.answer_index] == refs.answers[0]


def test_procedural_captions_match_the_drawn_scene():
    for sample in generate_samples(40, seed=3):
        shapes, background = sample.meta["shapes"], sample.meta["background"]
        assert 1 <= len(shapes) <= 3
        assert len({shape["kind"] for shape in shapes}) == len(shapes)
        assert all(shape["kind"] in SHAPE_KINDS for shape in shapes)
        assert all(shape["colour"] != background for shape in shapes)
        count_caption = sample.references.captions[1]
        assert count_caption.startswith(COUNT_WORDS[len(shapes) - 1].capitalize() + " shape")
        for caption in sample.references.captions:
            for shape in shapes:
                assert f"{shape['colour']} {shape['kind']}" in caption
        assert f"{background} background" in sample.references.captions[0]


def test_procedural_pixels_match_meta():
    """Each shape's centre has its colour, and a corner (outside every shape) is background."""
    for sample in generate_samples(20, seed=9):
        image = sample.images[0]
        assert image.getpixel((0, 0)) == COLOURS[sample.meta["background"]]
        for shape in sample.meta["shapes"]:
            assert image.getpixel(tuple(shape["center"])) == COLOURS[shape["colour"]]


def test_procedural_shapes_do_not_overlap():
    for sample in generate_samples(40, seed=4, size=64):
        shapes = sample.meta["shapes"]
        for i, a in enumerate(shapes):
            for b in shapes[i + 1 :]:
                assert math.dist(a["center"], b["center"]) > a["radius"] + b["radius"]


def test_procedural_answers_are_exact():
    for sample in generate_samples(40, seed=6):
        refs, shapes = sample.references, sample.meta["shapes"]
        answer = refs.answers[0]
        if refs.question == "How many shapes are in the image?":
            assert answer == COUNT_WORDS[len(shapes) - 1]
        elif refs.question == "What colour is the background?":
            assert answer == sample.meta["background"]
        elif refs.question.startswith("What colour is the "):
            kind = refs.question.removeprefix("What colour is the ").rstrip("?")
            assert answer == next(s["colour"] for s in shapes if s["kind"] == kind)
        else:
            colour = refs.question.removeprefix("Which shape is ").rstrip("?")
            assert answer == next(s["kind"] for s in shapes if s["colour"] == colour)


@pytest.mark.parametrize("bad_n", [0, -1, 2.5, True])
def test_procedural_rejects_bad_n(bad_n):
    with pytest.raises(InputError, match="procedural samples"):
        generate_samples(bad_n)


def test_procedural_rejects_tiny_size():
    with pytest.raises(InputError, match="size"):
        generate_samples(1, size=15)


def test_procedural_image_is_a_pil_image():
    assert isinstance(generate_samples(1)[0].images[0], Image.Image)
