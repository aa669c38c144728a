"""How many captions one response holds: the list a "give N captions" answer is parsed into.

Models answer "write 3 captions" in many layouts; the parser accepts the common ones and is
deliberately conservative about anything else:
- numbered items, one per line: `1. text`, `1) text`, `(1) text`, `1: text`, `Caption 1: text`,
  with optional markdown emphasis or a heading mark around the marker (`**1.** text`,
  `### Caption 2`); an item's text may also start on the next line;
- bulleted items, one per line: `- text`, `* text`, `+ text`, `• text`;
- numbered items inline on one line, when the numbers run 1, 2, 3, ...: `1. A dog. 2. A cat.`
Numbered items win over bullets (bullets under numbered items are details, not captions); an
item whose text is empty is not a caption; a response with no list is one caption when it has
any text, none when it is empty. Reasoning between `<think>` and `</think>` is dropped first, and
a response whose reasoning never closes holds no caption (the answer was never reached).
"""

from __future__ import annotations

import re

_THINK_BLOCK = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)
_THINK_OPEN = re.compile(r"<think>", re.IGNORECASE)
_EMPHASIS = r"(?:\*\*|__|\*|_)?"
_NUMBERED = re.compile(
    rf"^\s*(?:#+\s*)?{_EMPHASIS}\s*"
    r"(?:caption\s*\d{1,2}\s*[.):\]]?|\(\d{1,2}\)|\d{1,2}\s*[.):\]])"
    rf"\s*{_EMPHASIS}\s*(?P<text>.*)$",
    re.IGNORECASE,
)
_BULLETED = re.compile(r"^\s*[-*+•·‣◦]\s+(?P<text>.*)$")
_INLINE_NUMBER = re.compile(r"(?:^|(?<=\s))(?:\((\d{1,2})\)|(\d{1,2})[.)])\s+")
_WRAPPING = " \t\"'“”‘’*_`"


def strip_reasoning(response: str) -> str:
    """The response without its `<think>...</think>` blocks; empty when a block never closes."""
    visible = _THINK_BLOCK.sub("", response)
    return "" if _THINK_OPEN.search(visible) else visible


def _clean(text: str) -> str:
    return " ".join(text.split()).strip(_WRAPPING)


def _items(lines: list[str], pattern: re.Pattern[str]) -> list[str] | None:
    """Items that start at lines matching `pattern`, each with the unmarked lines after it; None if none."""
    items: list[list[str]] | None = None
    for line in lines:
        match = pattern.match(line)
        if match:
            items = (items or []) + [[match.group("text")]]
        elif items is not None:
            items[-1].append(line)
    if items is None:
        return None
    return [_clean(" ".join(parts)) for parts in items]


def _inline_items(text: str) -> list[str] | None:
    """Items of a one-line numbered list whose numbers run 1, 2, 3, ...; None if there is no such run."""
    markers: list[re.Match[str]] = []
    for match in _INLINE_NUMBER.finditer(text):
        if int(match.group(1) or match.group(2)) == len(markers) + 1:
            markers.append(match)
    if len(markers) < 2:
        return None
    ends = [m.start() for m in markers[1:]] + [len(text)]
    return [_clean(text[m.end() : end]) for m, end in zip(markers, ends, strict=True)]


def parse_caption_list(response: str) -> list[str]:
    """The captions in one response (see the module docstring for the layouts understood)."""
    text = strip_reasoning(response).strip()
    if not text:
        return []
    lines = text.splitlines()
    numbered = _inline_items(text) if len(lines) == 1 else None
    if numbered is None:
        numbered = _items(lines, _NUMBERED)
    items = numbered if numbered is not None else _items(lines, _BULLETED)
    if items is None:
        return [_clean(text)] if _clean(text) else []
    return [item for item in items if item]


def count_captions(response: str) -> int:
    """`captions_per_request` of one response: len(parse_caption_list(response))."""
    return len(parse_caption_list(response))
