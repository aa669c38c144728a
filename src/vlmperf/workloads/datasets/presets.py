"""Where the study's datasets live on the hub and which column means what, as lmms-eval reads them.

Each preset pins the hub id, config, split and columns that lmms-eval's task of the same name
uses, so our scores are computed on the rows the field publishes results on. Verified against
EvolvingLMMs-Lab/lmms-eval at main 75571cfe0fa36ca5ec2e6aa2bb268f9d38295af3 (2026-08-06),
`lmms_eval/tasks/...`, and the datasets' cards:

- coco-caption2017: `coco_cap/coco2017_cap_val.yaml` (dataset_path lmms-lab-encoder/COCO-Caption2017,
  test_split val, doc_to_target "answer") and `coco_cap/utils.py` (reads `image`, `question_id`,
  `answer` = the reference captions, `id`). `question_id` is the COCO file name, unique per image
  (lmms-eval parses the COCO image id from it), so it is the sample id. Hub layout:
  `data/val-0000x-of-00002.parquet`; val has 5,000 rows.
- textvqa: `textvqa/_default_template_textvqa_yaml` (dataset_path lmms-lab-encoder/textvqa),
  `textvqa/textvqa_val.yaml` (test_split validation) and `textvqa/utils.py` (reads `image`,
  `question`, `answers` (10), `ocr_tokens` for the OCR prompt, `question_id`). The card lists
  image_id, question_id (int32), question, question_tokens, image, image_width, image_height,
  flickr_original_url, flickr_300k_url, answers, image_classes, set_name, ocr_tokens.
  Layout `data/validation-*`; 5,000 rows. (Its test split has empty answers: it is scored by the
  EvalAI server, never here.)
- scienceqa-img: `scienceqa/scienceqa_img.yaml` (dataset_path lmms-lab-encoder/ScienceQA, dataset_name
  ScienceQA-IMG, test_split test) and `scienceqa/utils.py` (reads `hint` as the context,
  `question`, `choices`, `answer` = index of the right choice, `image`). The card lists image,
  question, choices, answer (int8), hint, task, grade, subject, topic, category, skill, lecture,
  solution: there is no id column, so samples are numbered by row. Layout `ScienceQA-IMG/test-*`;
  2,017 rows.

The ids moved: lmms-eval's commit 4be7ee0 ("chore: migrate dataset paths to new orgs",
2026-07-30) moved its image datasets from `lmms-lab/` to `lmms-lab-encoder/` to relieve lmms-lab's
storage. A preset reads the new id and, when that cannot be opened, its former id (`moved.py`,
`fallback_paths`); the id actually read is the provenance's `path`. A dataset a user names in
`workload.dataset` is read exactly as given: a config naming `lmms-lab/textvqa` reads that repo.

No revision is pinned here: the hub resolves `main` and the commit it resolved to is recorded
with every figure; pin `revision` in a config to freeze it.
"""

from __future__ import annotations

from dataclasses import dataclass

from vlmperf.errors import InputError
from vlmperf.workloads.datasets.moved import former_ids
from vlmperf.workloads.datasets.spec import ColumnMap, DatasetSource


@dataclass(frozen=True)
class DatasetPreset:
    """A named dataset: its default source, its column map, and where the mapping was checked."""

    name: str
    source: DatasetSource
    columns: ColumnMap
    reference: str

    @property
    def fallback_paths(self) -> tuple[str, ...]:
        """Hub ids tried, in order, when the source's own id cannot be opened (its former ids)."""
        return former_ids(self.source.path)


PRESETS: dict[str, DatasetPreset] = {
    preset.name: preset
    for preset in (
        DatasetPreset(
            "coco-caption2017",
            DatasetSource(kind="hub", path="lmms-lab-encoder/COCO-Caption2017", split="val"),
            ColumnMap(id="question_id", image="image", captions="answer"),
            "lmms-eval lmms_eval/tasks/coco_cap/coco2017_cap_val.yaml, coco_cap/utils.py",
        ),
        DatasetPreset(
            "textvqa",
            DatasetSource(kind="hub", path="lmms-lab-encoder/textvqa", split="validation"),
            ColumnMap(
                id="question_id",
                image="image",
                question="question",
                answers="answers",
                meta={"ocr_tokens": "ocr_tokens", "image_id": "image_id"},
            ),
            "lmms-eval lmms_eval/tasks/textvqa/textvqa_val.yaml, textvqa/utils.py; lmms-lab/textvqa card",
        ),
        DatasetPreset(
            "scienceqa-img",
            DatasetSource(kind="hub", path="lmms-lab-encoder/ScienceQA", name="ScienceQA-IMG", split="test"),
            ColumnMap(
                id=None,
                image="image",
                question="question",
                choices="choices",
                answer_index="answer",
                meta={"hint": "hint", "subject": "subject", "grade": "grade", "category": "category", "skill": "skill"},
            ),
            "lmms-eval lmms_eval/tasks/scienceqa/scienceqa_img.yaml, scienceqa/utils.py; lmms-lab/ScienceQA card",
        ),
    )
}

# Column maps for a user's own dataset, by task: the column names a user dataset is expected to use
# unless the config maps others.
GENERIC_COLUMNS: dict[str, ColumnMap] = {
    "caption": ColumnMap(id="id", image="image", captions="captions"),
    "vqa": ColumnMap(id="id", image="image", question="question", answers="answers"),
    "mcq": ColumnMap(id="id", image="image", question="question", choices="choices", answer_index="answer"),
    "text": ColumnMap(id="id", image=None, captions="reference", meta={"text": "text"}),
}


def get_preset(name: str) -> DatasetPreset:
    try:
        return PRESETS[name]
    except KeyError:
        raise InputError(f"unknown dataset preset {name!r}; known presets: {', '.join(PRESETS)}") from None
