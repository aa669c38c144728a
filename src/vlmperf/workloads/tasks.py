"""Tasks: what a sample is asked, declared once each in a registry.

A task turns a sample into the text prompt sent with its images, and names the dataset it reads
by default. Adding a task is adding one declaration here (and its scoring in
`vlmperf.scoring.by_task`), not a branch in the backends. The study tasks use lmms-eval's prompts,
so their scores are comparable with published ones.

Prompt templates are Python format strings over these fields:
- `{question}`: the sample's question; `{Question}`: the same with `str.capitalize()` (lmms-eval's
  TextVQA does this);
- `{choices}`: the choices as lines `A. text`;
- `{context}`: `Context: <hint>\n` when the sample has a non-empty hint (ScienceQA), else empty;
- `{ocr}`: `\nReference OCR token: a, b, ...` when `workload.ocr_tokens` is on and the sample has
  OCR tokens (TextVQA), else empty;
- `{caption}`: the sample's first reference caption (the built-in photos have three);
- `{text}`: the sample's text, from its `text` column (`Sample.meta["text"]`): the prompt of a
  text-only dataset.

The `text` task sends no images, for text-only models (a VLM answers it from the text alone). Its
default prompt asks for three captions of a photo described by its first reference caption, as
the provider study asked its text models; a dataset of prompts sets `workload.prompt: "{text}"`.
Tasks whose answers are captions have each response parsed into a list of captions
(`vlmperf.metrics.caption_list`), which gives `captions_per_request`.

A task also declares what a token budget may cut (`cut_order`: the fields whose text may be
shortened, first to last; the template's own text, such as an instruction, and the fields it does
not name, such as the choices, are never cut; see `vlmperf.workloads.prompt`) and how many tokens
it generates when the config does not say (`max_new_tokens`). The study tasks take both from
lmms-eval as its `llava` models run them (EvolvingLMMs-Lab/lmms-eval at
75571cfe0fa36ca5ec2e6aa2bb268f9d38295af3): `coco_cap/coco2017_cap_val.yaml` sets
`max_new_tokens: 64`, `scienceqa/scienceqa_img.yaml` 16; `textvqa/_default_template_textvqa_yaml`
sets none, so the model's default applies, 1024 in both `models/simple/llava.py` and
`llava_hf.py`. That yaml's `until: ["ASSISTANT:"]` is read by both models and then not applied
(the post-hoc cut is commented out), so generation stops at the end-of-sequence token or the
token limit, as here. The generic tasks keep 32.
"""

from __future__ import annotations

import hashlib
import string
from dataclasses import dataclass

from vlmperf.errors import InputError
from vlmperf.workloads.prompt import FieldText, Prompt, build_prompt
from vlmperf.workloads.sample import Sample
from vlmperf.workloads.system_prompts import system_text

_MCQ_PROMPT = "{context}{question}\n{choices}\nAnswer with the option's letter from the given choices directly."
_SHORT_ANSWER = "\nAnswer the question using a single word or phrase."
# What a token budget shortens, first to last: context (ScienceQA's hint) and OCR tokens are
# supporting material; then the sample's own text (a text dataset's prompt, a caption it
# describes); the question last. Never the choices or the template's own words.
DEFAULT_CUT_ORDER = ("context", "ocr", "text", "caption", "question", "Question")
_THREE_CAPTIONS = (
    "Write 3 different one-sentence captions for a photo of this scene: {caption}\n"
    "Answer with a numbered list, one caption per line."
)


@dataclass(frozen=True)
class Task:
    """A named way of asking: its default prompt template and the dataset preset it reads by default.

    `sends_images` False drops the samples' images (text-only prompts); `answers_captions` says its
    responses are captions, so each is parsed into a list and counted (`captions_per_request`).
    `cut_order` names the prompt fields a token budget may shorten, first to last (each from its
    end); `max_new_tokens` is the generation limit when the config sets none.
    """

    name: str
    default_prompt: str
    needs_question: bool = False
    dataset_preset: str | None = None
    column_preset: str | None = None
    sends_images: bool = True
    answers_captions: bool = False
    cut_order: tuple[str, ...] = DEFAULT_CUT_ORDER
    max_new_tokens: int = 32

    def prompt_for(self, sample: Sample, template: str | None = None, *, ocr: bool = False) -> str:
        """The prompt text for one sample (see the module docstring for the template fields)."""
        return self.prompt_parts_for(sample, template, ocr=ocr).text

    def prompt_parts_for(
        self, sample: Sample, template: str | None = None, *, ocr: bool = False, system: str | None = None
    ) -> Prompt:
        """The prompt for one sample, kept in parts so a token budget cuts only what the task allows."""
        template = template if template is not None else self.default_prompt
        fields = prompt_fields(sample, ocr=ocr)
        needed = {name for _, name, _, _ in string.Formatter().parse(template) if name}
        unknown = needed - set(PROMPT_FIELDS)
        if unknown:
            raise InputError(
                f"workload.prompt names {sorted(unknown)}; use only the fields {', '.join(PROMPT_FIELDS)} "
                "(write {{ and }} for literal braces)"
            )
        missing = sorted(name for name in needed if fields.get(name) is None)
        if missing:
            raise InputError(
                f"sample {sample.id!r} has no {', '.join(missing)}, but the {self.name} prompt needs it: "
                "drop that field from workload.prompt, or use data that has it"
            )
        return build_prompt(template, fields, self.cut_order, system)


PROMPT_FIELDS = ("question", "Question", "choices", "context", "ocr", "caption", "text")


def prompt_fields(sample: Sample, *, ocr: bool) -> dict[str, FieldText | None]:
    """Each field's value (None: the sample lacks it); labels are frames, kept or dropped with their body."""
    refs = sample.references
    hint = str(sample.meta.get("hint") or "").strip()
    tokens = sample.meta.get("ocr_tokens") or []
    text = sample.meta.get("text")

    def plain(value: str | None) -> FieldText | None:
        return FieldText(value) if value is not None else None

    return {
        "question": plain(refs.question),
        "Question": plain(refs.question.capitalize() if refs.question else None),
        "choices": plain("\n".join(f"{chr(65 + i)}. {c}" for i, c in enumerate(refs.choices)) or None),
        "context": FieldText(hint, "Context: ", "\n"),
        "ocr": FieldText(", ".join(map(str, tokens)) if ocr else "", "\nReference OCR token: "),
        "caption": plain(refs.captions[0] if refs.captions else None),
        "text": plain(str(text) if text is not None else None),
    }


TASKS: dict[str, Task] = {
    task.name: task
    for task in (
        Task("caption", "Describe the image in one sentence.", column_preset="caption", answers_captions=True),
        Task("vqa", "{question}" + _SHORT_ANSWER, needs_question=True, column_preset="vqa"),
        Task("mcq", _MCQ_PROMPT, needs_question=True, column_preset="mcq"),
        Task(
            "coco-caption",
            "Provide a one-sentence caption for the provided image.",
            dataset_preset="coco-caption2017",
            answers_captions=True,
            max_new_tokens=64,
        ),
        Task(
            "textvqa",
            "{Question}{ocr}" + _SHORT_ANSWER,
            needs_question=True,
            dataset_preset="textvqa",
            max_new_tokens=1024,
        ),
        Task("scienceqa-img", _MCQ_PROMPT, needs_question=True, dataset_preset="scienceqa-img", max_new_tokens=16),
        Task("text", _THREE_CAPTIONS, column_preset="text", sends_images=False, answers_captions=True),
    )
}


def get_task(name: str) -> Task:
    try:
        return TASKS[name]
    except KeyError:
        raise InputError(f"unknown task {name!r}; known tasks: {', '.join(TASKS)}") from None


def workload_prompts(
    task_name: str, template: str | None, samples: list[Sample], *, ocr: bool, system_prompt: str | None = None
) -> tuple[str, dict[str, Prompt]]:
    """The template in force (the workload's, else the task's default) and each sample's prompt by id,
    carrying the system sentence `system_prompt` stands for (a name in `SYSTEM_PROMPTS`, or text)."""
    task = get_task(task_name)
    template = template if template is not None else task.default_prompt
    system = system_text(system_prompt)
    return template, {sample.id: task.prompt_parts_for(sample, template, ocr=ocr, system=system) for sample in samples}


def prompt_hash(template: str, system: str | None = None) -> str:
    """A short, stable hash of a prompt template and the system sentence before it (if any), recorded
    beside every figure it produced. Without a system sentence it is the template's hash alone."""
    key = template if system is None else f"{system}\n\n{template}"
    return hashlib.sha256(key.encode()).hexdigest()[:12]
