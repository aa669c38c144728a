"""Tasks: what a sample is asked, declared once each in a registry.

A task turns a sample into the text prompt sent with its images. Adding a task is adding one
declaration here, not a branch in the backends.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from vlmperf.errors import InputError
from vlmperf.workloads.sample import Sample


@dataclass(frozen=True)
class Task:
    """A named way of asking: its default prompt template and which references it needs."""

    name: str
    default_prompt: str
    needs_question: bool = False

    def prompt_for(self, sample: Sample, template: str | None = None) -> str:
        """The prompt text for one sample; `{question}` in the template is the sample's question."""
        template = template if template is not None else self.default_prompt
        question = sample.references.question
        if "{question}" in template:
            if not question:
                raise InputError(f"sample {sample.id!r} has no question, but the {self.name} prompt needs one")
            return template.replace("{question}", question)
        return template


TASKS: dict[str, Task] = {
    task.name: task
    for task in (
        Task("caption", "Describe the image in one sentence."),
        Task("vqa", "{question}\nAnswer the question using a single word or phrase.", needs_question=True),
    )
}


def get_task(name: str) -> Task:
    try:
        return TASKS[name]
    except KeyError:
        raise InputError(f"unknown task {name!r}; known tasks: {', '.join(TASKS)}") from None


def prompt_hash(template: str) -> str:
    """A short, stable hash of a prompt template, recorded beside every figure it produced."""
    return hashlib.sha256(template.encode()).hexdigest()[:12]
