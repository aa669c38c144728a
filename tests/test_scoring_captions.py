"""Caption metrics equal pycocoevalcap's own COCOEvalCap evaluation on the same inputs.

The reference is `pycocoevalcap.eval.COCOEvalCap.evaluate()` itself, driven the way the
pycocoevalcap README example drives it (a COCO object for the references, `loadRes` for the
predictions, `params['image_id'] = coco_result.getImgIds()`), with two substitutions that do not
touch any value: SPICE (not one of our metrics; it downloads Stanford CoreNLP models on first use)
is replaced by a stub, and every `Meteor()` it builds is one shared pycocoevalcap `Meteor`
instance, so the 61 MB paraphrase table is loaded once for the module rather than per call.
Our side uses one `CaptionScorer` for the module for the same reason. Both load in parallel.
"""

from __future__ import annotations

import math
import stat
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from vlmperf.errors import InputError
from vlmperf.scoring import java as java_check
from vlmperf.scoring.captions import METRIC_NAMES, CaptionScorer, caption_metrics

pycocoevalcap = pytest.importorskip("pycocoevalcap")

needs_java = pytest.mark.skipif(java_check.java_executable() is None, reason="needs a Java runtime (java on PATH)")

# vlmperf name -> COCOEvalCap's key
COCO_KEYS = {
    "bleu_1": "Bleu_1",
    "bleu_2": "Bleu_2",
    "bleu_3": "Bleu_3",
    "bleu_4": "Bleu_4",
    "meteor": "METEOR",
    "rouge_l": "ROUGE_L",
    "cider": "CIDEr",
}

# A set that exercises the tokenizer and every scorer: punctuation, quotes, brackets,
# contractions, numbers, unicode (accents, CJK, emoji), a newline inside a prediction, an empty
# prediction, "|||" (METEOR's separator), duplicate references, one-word captions.
PREDICTIONS: dict[str, str] = {
    "img-1": "A man riding a wave on top of a surfboard.",
    "img-2": "Two dogs play with a frisbee\nin the park",
    "img-3": "",
    "img-4": "A café in Zürich — naïve “quoted” text, 3.5 cups & (brackets) [square] {curly}!",
    "img-5": "It's a dog's toy, isn't it? Don't know...",
    "img-6": "犬が公園で走っている 🐶",
    "img-7": "a ||| b",
    "img-8": "pizza",
    "img-9": "A kitchen with a stove , a sink and a refrigerator.",
    "img-10": "A group of people standing around a large white airplane on a runway.",
}
REFERENCES: dict[str, list[str]] = {
    "img-1": [
        "A surfer riding a large wave in the ocean.",
        "a man on a surfboard riding a wave",
        "A person surfing on top of a wave.",
        "Surfer in a wet suit riding a big wave.",
        "A man rides the waves on his surf board.",
    ],
    "img-2": ["Two dogs playing with a frisbee in a park.", "Dogs chase a frisbee on the grass."],
    "img-3": ["A cat sleeping on a couch.", "a cat lying on a sofa"],
    "img-4": ["A naïve café in Zürich serves “three” cups.", "A cafe with cups (and brackets)."],
    "img-5": ["It is a dog's toy.", "A toy that belongs to a dog, isn't it?", "It is a dog's toy."],
    "img-6": ["犬が走っている", "A dog runs in the park 🐶"],
    "img-7": ["a b", "a ||| c"],
    "img-8": ["pizza", "A pizza on a plate."],
    "img-9": ["A kitchen with a stove, sink and fridge.", "A clean kitchen with white appliances."],
    "img-10": [
        "People stand near a big white airplane on the tarmac.",
        "A crowd of people around a jet plane.",
        "an airplane on a runway with people around it",
    ],
}


class _StubSpice:
    """Stands in for pycocoevalcap's SPICE, which is not one of vlmperf's metrics."""

    def compute_score(self, gts: Mapping[Any, Any], res: Mapping[Any, Any]) -> tuple[float, list[float]]:
        return 0.0, [0.0] * len(gts)

    def method(self) -> str:
        return "SPICE"


class _MinimalCOCO:
    """The part of pycocotools' COCO that COCOEvalCap reads, for when pycocotools is not installed."""

    def __init__(self, images: Sequence[Any], annotations: Sequence[Mapping[str, Any]]) -> None:
        self.imgs = {i: {"id": i} for i in images}
        self.imgToAnns: dict[Any, list[Mapping[str, Any]]] = {i: [] for i in images}
        for ann in annotations:
            self.imgToAnns[ann["image_id"]].append(ann)

    def getImgIds(self) -> list[Any]:
        return list(self.imgs)

    def loadRes(self, anns: Sequence[Mapping[str, Any]]) -> _MinimalCOCO:
        return _MinimalCOCO([a["image_id"] for a in anns], anns)


def _coco_objects(predictions: Mapping[str, str], references: Mapping[str, Sequence[str]]) -> tuple[Any, Any]:
    """COCO(annotation_file) and coco.loadRes(results), as the README example builds them."""
    ids = list(predictions)
    annotations = [
        {"image_id": i, "id": n, "caption": c}
        for n, (i, c) in enumerate(((i, c) for i in ids for c in references[i]), start=1)
    ]
    results = [{"image_id": i, "caption": predictions[i]} for i in ids]
    try:
        from pycocotools.coco import COCO
    except ImportError:
        coco: Any = _MinimalCOCO(ids, annotations)
        return coco, coco.loadRes(results)
    coco = COCO()
    coco.dataset = {"images": [{"id": i} for i in ids], "annotations": annotations}
    coco.createIndex()
    return coco, coco.loadRes(results)


@pytest.fixture(scope="module", autouse=True)
def own_meteor_processes(meteor_pool) -> Iterator[None]:
    """This module tests the scorer's handling of its own METEOR process: no pooled one here."""
    from vlmperf.scoring import captions

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(captions, "_Meteor", meteor_pool.real)
        yield


@pytest.fixture(scope="module")
def reference_meteor() -> Iterator[Any]:
    """One pycocoevalcap Meteor process for every reference evaluation of the module."""
    if java_check.java_executable() is None:
        pytest.skip("needs a Java runtime (java on PATH)")
    from pycocoevalcap.meteor.meteor import Meteor

    meteor = Meteor()  # starts loading now, in parallel with our scorer's METEOR
    yield meteor
    meteor.meteor_p.stdin.close()
    meteor.meteor_p.kill()
    meteor.meteor_p.wait()


@pytest.fixture(scope="module")
def scorer(reference_meteor: Any) -> Iterator[CaptionScorer]:
    with CaptionScorer() as s:
        yield s


@pytest.fixture
def coco_eval(reference_meteor: Any, monkeypatch: pytest.MonkeyPatch):
    """COCOEvalCap's evaluation of (predictions, references): (eval, imgToEval)."""
    import pycocoevalcap.eval as coco_eval_module

    monkeypatch.setattr(coco_eval_module, "Spice", _StubSpice)
    monkeypatch.setattr(coco_eval_module, "Meteor", lambda: reference_meteor)

    def evaluate(predictions: Mapping[str, str], references: Mapping[str, Sequence[str]]):
        coco, coco_result = _coco_objects(predictions, references)
        evaluator = coco_eval_module.COCOEvalCap(coco, coco_result)
        evaluator.params["image_id"] = coco_result.getImgIds()
        evaluator.evaluate()
        return evaluator.eval, evaluator.imgToEval

    return evaluate


def _assert_same(ours: Mapping[str, Any], reference: tuple[dict[str, Any], dict[Any, dict[str, Any]]], ids: list[str]):
    ref_eval, ref_per_image = reference
    assert set(ours) == set(METRIC_NAMES)
    for name, key in COCO_KEYS.items():
        result = ours[name]
        assert result.value == float(ref_eval[key]), name
        assert result.per_sample == tuple(float(ref_per_image[i][key]) for i in ids), name


@needs_java
@pytest.mark.slow
def test_every_metric_equals_coco_eval_cap(scorer: CaptionScorer, coco_eval) -> None:
    ours = scorer.score(PREDICTIONS, REFERENCES)
    _assert_same(ours, coco_eval(PREDICTIONS, REFERENCES), list(PREDICTIONS))
    for name in METRIC_NAMES:
        result = ours[name]
        assert result.implementation == {
            "name": "pycocoevalcap",
            "version": pycocoevalcap_version(),
            "tokenizer": "PTBTokenizer",
        }
        assert result.ci95 is not None and result.ci95[0] <= result.value <= result.ci95[1]
        assert all(math.isfinite(s) for s in result.per_sample or ())
    # BLEU and METEOR are corpus figures, not the mean of the per-image scores
    assert ours["bleu_4"].value != pytest.approx(sum(ours["bleu_4"].per_sample) / len(PREDICTIONS))
    assert ours["rouge_l"].value == pytest.approx(sum(ours["rouge_l"].per_sample) / len(PREDICTIONS))


@needs_java
@pytest.mark.slow
def test_single_sample_equals_coco_eval_cap(scorer: CaptionScorer, coco_eval) -> None:
    predictions = {"only": "A man riding a wave on top of a surfboard."}
    references = {"only": REFERENCES["img-1"]}
    ours = scorer.score(predictions, references)
    _assert_same(ours, coco_eval(predictions, references), ["only"])
    assert ours["cider"].value == 0.0  # CIDEr's idf over one image is log(1) - log(1) for every n-gram
    assert all(r.ci95 is None for r in ours.values())  # below 5 samples


@needs_java
@pytest.mark.slow
def test_line_breaks_are_spaces(scorer: CaptionScorer, coco_eval) -> None:
    """ "\\n" is what pycocoevalcap makes a space; the tokenizer also breaks lines at \\r, \\v, \\f,
    U+2028 and U+2029, which would misalign every later caption there. Here they are all spaces,
    so the result equals COCOEvalCap's on the text with spaces."""
    broken = {
        "a": "A dog\r\nruns on\rthe beach",
        "b": "Two cats\u2028on a\u2029sofa\x0b\x0cnow",
        "c": "A red bus\n\non the street",
    }
    spaced = {k: v.translate(str.maketrans("\r\x0b\x0c\u2028\u2029", "     ")) for k, v in broken.items()}
    references = {
        "a": ["A dog running on the beach.", "dog on a beach"],
        "b": ["Two cats on a sofa.", "cats sitting on a couch"],
        "c": ["A red bus on a street.", "a double decker bus"],
    }
    references_broken = {k: [r.replace(" on ", " on\r") for r in v] for k, v in references.items()}
    ours = scorer.score(broken, references_broken)
    _assert_same(ours, coco_eval(spaced, references), list(broken))
    assert ours["bleu_1"].per_sample[0] > 0.5  # not shifted onto another image's references


@needs_java
@pytest.mark.slow
def test_order_of_ids_is_kept_and_extra_references_ignored(scorer: CaptionScorer) -> None:
    ids = ["img-9", "img-1", "img-4", "img-2", "img-8"]
    predictions = {i: PREDICTIONS[i] for i in ids}
    ours = scorer.score(predictions, REFERENCES)  # references for ids not predicted are ignored
    assert len(ours["meteor"].per_sample or ()) == len(ids)
    alone = scorer.score({"img-8": "pizza"}, {"img-8": REFERENCES["img-8"]})
    assert ours["bleu_1"].per_sample[-1] == alone["bleu_1"].per_sample[0]  # per-image BLEU is per image


@needs_java
@pytest.mark.slow
def test_start_then_result_equals_score(scorer: CaptionScorer) -> None:
    from vlmperf.scoring.text_error import word_error_rate

    pending = scorer.start(PREDICTIONS, REFERENCES)
    with pytest.raises(RuntimeError, match="already has a set in progress"):
        scorer.start(PREDICTIONS, REFERENCES)
    wer = word_error_rate(PREDICTIONS, REFERENCES, pick="closest")  # runs while METEOR scores
    overlapped = pending.result()
    assert pending.result() is overlapped
    assert wer.value > 0
    plain = scorer.score(PREDICTIONS, REFERENCES)
    assert {k: (v.value, v.per_sample, v.ci95) for k, v in overlapped.items()} == {
        k: (v.value, v.per_sample, v.ci95) for k, v in plain.items()
    }


def _files(folder: Path) -> set[str]:
    """Every file and folder under `folder`, relative to it."""
    return {str(path.relative_to(folder)) for path in folder.rglob("*")}


@pytest.fixture
def private_pycocoevalcap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """pycocoevalcap imported, for this test alone, from a folder of its own whose files link to the installed ones.

    pycocoevalcap writes its temporary files into its own package folder and METEOR runs there, so
    a look at the installed folder would also see the files of another session scoring at the same
    time from the shared virtualenv. In a private copy, any file there is ours. Yields its folder.
    """
    import sys

    from pycocoevalcap.tokenizer import ptbtokenizer

    installed = Path(ptbtokenizer.__file__).parent.parent
    private = tmp_path / "site" / "pycocoevalcap"
    for source in installed.rglob("*"):
        if "__pycache__" in source.parts:
            continue
        target = private / source.relative_to(installed)
        if source.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to(source)
    monkeypatch.setattr(sys, "dont_write_bytecode", True)  # importing writes no __pycache__ into the copy
    loaded = [name for name in sys.modules if name.partition(".")[0] == "pycocoevalcap"]
    for name in loaded:
        monkeypatch.delitem(sys.modules, name)  # put back when the test ends
    monkeypatch.syspath_prepend(str(private.parent))
    yield private
    for name in [name for name in sys.modules if name.partition(".")[0] == "pycocoevalcap"]:
        del sys.modules[name]  # the copy's modules; the installed ones come back with monkeypatch's undo


@needs_java
@pytest.mark.slow
def test_no_temporary_files_and_meteor_is_closed(
    private_pycocoevalcap: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    temp, cwd = tmp_path / "temp", tmp_path / "cwd"
    temp.mkdir()
    cwd.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))  # where Python's temporary files go, for this test alone
    monkeypatch.chdir(cwd)  # the tokenizer's working folder
    before = _files(private_pycocoevalcap)
    with CaptionScorer() as s:
        assert Path(s._modules[4].__file__).parent == private_pycocoevalcap / "tokenizer", "scores with the copy"
        s.score({"x": "a dog"}, {"x": ["a dog", "the dog"]})
        proc = s._meteor._proc
        assert proc.poll() is None
    assert proc.returncode is not None
    assert s._meteor is None
    assert _files(private_pycocoevalcap) == before
    assert _files(temp) == set()
    assert _files(cwd) == set()


def test_java_missing_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no java anywhere on PATH
    java_check.clear_cache()
    try:
        with pytest.raises(InputError) as caught:
            caption_metrics({"x": "a dog"}, {"x": ["a dog"]})
    finally:
        java_check.clear_cache()
    message = str(caught.value)
    assert "needs Java" in message
    assert "no `java` on PATH" in message
    assert "apt-get install default-jre-headless" in message


def test_java_that_does_not_run_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "java"
    fake.write_text("#!/bin/sh\necho 'broken java' >&2\nexit 1\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    monkeypatch.setenv("PATH", str(tmp_path))
    java_check.clear_cache()
    try:
        with pytest.raises(InputError, match=r"needs Java \(`.*java -version` failed\)"):
            CaptionScorer()
    finally:
        java_check.clear_cache()


def test_java_check_is_cached(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    java_check.clear_cache()
    monkeypatch.setattr(java_check.shutil, "which", lambda name: "/opt/fake/java")

    def fake_run(cmd, **kwargs):
        calls.append(cmd[0])

        class Done:
            returncode = 0
            stdout = b""
            stderr = b'openjdk version "17.0.0"\n'

        return Done()

    monkeypatch.setattr(java_check.subprocess, "run", fake_run)
    try:
        assert java_check.require_java("x") == "/opt/fake/java"
        assert java_check.java_version() == 'openjdk version "17.0.0"'
        assert java_check.require_java("x") == "/opt/fake/java"
        assert calls == ["/opt/fake/java"]
    finally:
        java_check.clear_cache()


@pytest.mark.parametrize(
    ("predictions", "references", "match"),
    [
        ({}, {}, "no predictions"),
        ({"a": "x"}, {}, "no references for 1 prediction"),
        ({"a": "x"}, {"a": []}, "non-empty list"),
        ({"a": "x"}, {"a": "x"}, "non-empty list"),
        ({"a": None}, {"a": ["x"]}, "prediction must be a string"),
        ({"a": "x"}, {"a": ["x", 3]}, "reference 1 must be a string"),
    ],
)
def test_bad_input_is_reported_before_java(predictions, references, match, monkeypatch) -> None:
    monkeypatch.setattr(java_check, "java_executable", lambda: None)  # input is checked first
    with pytest.raises(InputError, match=match):
        caption_metrics(predictions, references)


def pycocoevalcap_version() -> str:
    import importlib.metadata

    return importlib.metadata.version("pycocoevalcap")
