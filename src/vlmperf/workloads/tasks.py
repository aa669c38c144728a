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
"""

from __future__ import annotations

import hashlib
import string
from dataclasses import dataclass

from vlmperf.errors import InputError
from vlmperf.workloads.sample import Sample

_MCQ_PROMPT = "{context}{question}\n{choices}\nAnswer with the option's letter from the given choices directly."
_SHORT_ANSWER = "\nAnswer the question using a single word or phrase."
_THREE_CAPTIONS = (
    "Write 3 different one-sentence captions for a photo of this scene: {caption}\n"
    "Answer with a numbered list, one caption per line."
)


@dataclass(frozen=True)
class Task:
    """A named way of asking: its default prompt template and the dataset preset it reads by default.

    `sends_images` False drops the samples' images (text-only prompts); `answers_captions` says its
    responses are captions, so each is parsed into a list and counted (`captions_per_request`).
    """

    name: str
    default_prompt: str
    needs_question: bool = False
    dataset_preset: str | None = None
    column_preset: str | None = None
    sends_images: bool = True
    answers_captions: bool = False

    def prompt_for(self, sample: Sample, template: str | None = None, *, ocr: bool = False) -> str:
        """The prompt text for one sample (see the module docstring for the template fields)."""
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
        return template.format_map(fields)


PROMPT_FIELDS = ("question", "Question", "choices", "context", "ocr", "caption", "text")


def prompt_fields(sample: Sample, *, ocr: bool) -> dict[str, str | None]:
    refs = sample.references
    hint = str(sample.meta.get("hint") or "").strip()
    tokens = sample.meta.get("ocr_tokens") or []
    return {
        "question": refs.question,
        "Question": refs.question.capitalize() if refs.question else None,
        "choices": "\n".join(f"{chr(65 + i)}. {c}" for i, c in enumerate(refs.choices)) if refs.choices else None,
        "context": f"Context: {hint}\n" if hint else "",
        "ocr": f"\nReference OCR token: {', '.join(map(str, tokens))}" if ocr and len(tokens) else "",
        "caption": refs.captions[0] if refs.captions else None,
        "text": str(text) if (text := sample.meta.get("text")) is not None else None,
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
        ),
        Task("textvqa", "{Question}{ocr}" + _SHORT_ANSWER, needs_question=True, dataset_preset="textvqa"),
        Task("scienceqa-img", _MCQ_PROMPT, needs_question=True, dataset_preset="scienceqa-img"),
        Task("text", _THREE_CAPTIONS, column_preset="text", sends_images=False, answers_captions=True),
    )
}


def get_task(name: str) -> Task:
    try:
        return TASKS[name]
    except KeyError:
        raise InputError(f"unknown task {name!r}; known tasks: {', '.join(TASKS)}") from None


def workload_prompts(task_name: str, template: str | None, samples: list[Sample], *, ocr: bool) -> tuple[str, dict[str, str]]:
    """The template in force (the workload's, else the task's default) and each sample's prompt by id."""
    task = get_task(task_name)
    template = template if template is not None else task.default_prompt
    return template, {sample.id: task.prompt_for(sample, template, ocr=ocr) for sample in samples}


def prompt_hash(template: str) -> str:
    """A short, stable hash of a prompt template, recorded beside every figure it produced."""
    return hashlib.sha256(template.encode()).hexdigest()[:12]
