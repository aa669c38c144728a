"""A prompt that remembers which template field each piece of its text came from.

A token budget (`workload.max_input_len`) must not cut a multiple-choice prompt's choices or its
instruction ("Answer with the option's letter ..."): those are what the answer is parsed against.
So a prompt is kept as segments: the template's own text (never cut), and each field's text, whose
`body` may be cut and whose `frame` (a label such as "Context: " and its line break) goes only with
the whole body. The task declares which fields may be cut and in which order (`Task.cut_order`:
ScienceQA cuts its context first, then its question); the local backend, which has the tokenizer,
does the cutting (`vlmperf.backends.local.prompt_budget`).

`Prompt.text` is exactly `template.format_map(fields)`.
"""

from __future__ import annotations

import string
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class FieldText:
    """A field's value as a body that may be cut, between a frame that is kept or dropped with it."""

    body: str
    before: str = ""
    after: str = ""

    @property
    def text(self) -> str:
        return f"{self.before}{self.body}{self.after}" if self.body else ""


@dataclass(frozen=True)
class Segment:
    """One piece of a prompt: `field` None for the template's own text."""

    field: str | None
    value: FieldText

    @property
    def text(self) -> str:
        return self.value.text if self.field is not None else self.value.body


@dataclass(frozen=True)
class Prompt:
    """A sample's prompt as segments, the fields a budget may cut (in order), and the system sentence."""

    segments: tuple[Segment, ...]
    cut_order: tuple[str, ...] = ()
    system: str | None = None

    @property
    def text(self) -> str:
        return "".join(segment.text for segment in self.segments)

    def __str__(self) -> str:
        return self.text

    def body(self, field: str) -> str:
        """The field's body (the same wherever the template names it); empty when the template does not."""
        return next((s.value.body for s in self.segments if s.field == field), "")

    def with_body(self, field: str, body: str) -> Prompt:
        """The prompt with every occurrence of `field` holding `body` (an empty body drops its frame too)."""
        segments = tuple(
            replace(s, value=replace(s.value, body=body)) if s.field == field else s for s in self.segments
        )
        return replace(self, segments=segments)

    def fields(self) -> list[str]:
        """The fields this prompt's template names, in the order they are cut (only those that may be)."""
        present = {s.field for s in self.segments if s.field is not None and s.value.body}
        return [field for field in self.cut_order if field in present]


def build_prompt(
    template: str, fields: dict[str, FieldText | None], cut_order: tuple[str, ...], system: str | None
) -> Prompt:
    """Split the template into its literal text and its fields' values (a field with a format spec or
    conversion is formatted whole and treated as template text: it is never cut)."""
    formatter = string.Formatter()
    segments: list[Segment] = []
    for literal, name, spec, conversion in formatter.parse(template):
        if literal:
            segments.append(Segment(None, FieldText(literal)))
        if name is None:
            continue
        value = fields[name]
        assert value is not None  # callers check missing fields first, with a message
        if spec or conversion:
            formatted = formatter.format_field(formatter.convert_field(value.text, conversion), spec or "")
            segments.append(Segment(None, FieldText(formatted)))
        else:
            segments.append(Segment(name, value))
    return Prompt(tuple(segments), cut_order, system)
