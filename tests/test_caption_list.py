"""captions_per_request: the parser of "give N captions" responses, against lists built with known items."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vlmperf.metrics.caption_list import count_captions, parse_caption_list, strip_reasoning

CASES = {
    "numbered after a preamble": (
        "Here are 3 captions:\n1. A dog.\n2. A cat.\n3. A bird.",
        ["A dog.", "A cat.", "A bird."],
    ),
    "parenthesis numbers": ("1) red car\n2) blue car", ["red car", "blue car"]),
    "numbers in parentheses": ("(1) a\n(2) b", ["a", "b"]),
    "inline numbered": (
        "Sure: 1. A dog runs. 2. A cat sleeps. 3. A bird sings.",
        ["A dog runs.", "A cat sleeps.", "A bird sings."],
    ),
    "inline parenthesised": ("(1) a dog (2) a cat", ["a dog", "a cat"]),
    "bullets": ("- first\n* second\n• third", ["first", "second", "third"]),
    "bold caption labels, text on the next line": (
        "**Caption 1:**\nA dog runs.\n\n**Caption 2:**\nA cat naps.",
        ["A dog runs.", "A cat naps."],
    ),
    "headings": ("### Caption 1\nfoo\n### Caption 2\nbar", ["foo", "bar"]),
    "quoted and emphasised items": ('1. "A dog."\n2. **A cat**', ["A dog.", "A cat"]),
    "bullets under numbers are details": ("1. First\n   - detail\n2. Second", ["First - detail", "Second"]),
    "an empty item is no caption": ("1.\n2. b", ["b"]),
    "no list: one caption": ("Just one caption.", ["Just one caption."]),
    "numbers that do not run 1, 2 are no list": ("The 2 dogs. 1. ok", ["The 2 dogs. 1. ok"]),
    "empty": ("", []),
    "whitespace": ("  \n ", []),
    "closed reasoning is dropped": ("<think>1. no\n2. no</think>\n1) x\n2) y", ["x", "y"]),
    "unclosed reasoning: the answer never came": ("<think>1. still thinking", []),
}


@pytest.mark.parametrize("name", list(CASES))
def test_layouts(name):
    response, expected = CASES[name]
    assert parse_caption_list(response) == expected
    assert count_captions(response) == len(expected)


def test_strip_reasoning():
    assert strip_reasoning("<THINK>a</think>b<think>c</think>") == "b"
    assert strip_reasoning("a <think>b") == ""


WORDS = st.text(alphabet="abcdefghijklmnopqrstuvwxyz,", min_size=1, max_size=8)
ITEM = st.lists(WORDS, min_size=1, max_size=6).map(" ".join)
LINE_STYLES = [
    "{n}. {text}",
    "{n}) {text}",
    "({n}) {text}",
    "{n}: {text}",
    "- {text}",
    "* {text}",
    "**Caption {n}:** {text}",
]


@given(
    items=st.lists(ITEM, min_size=1, max_size=9),
    style=st.sampled_from(LINE_STYLES),
    preamble=st.booleans(),
)
def test_any_one_per_line_list_parses_to_its_items(items, style, preamble):
    lines = [style.format(n=n, text=text) for n, text in enumerate(items, 1)]
    response = ("Here are the captions you asked for:\n" if preamble else "") + "\n".join(lines)
    assert parse_caption_list(response) == items


@given(items=st.lists(ITEM, min_size=2, max_size=9))
def test_any_inline_numbered_list_parses_to_its_items(items):
    response = " ".join(f"{n}. {text}" for n, text in enumerate(items, 1))
    assert parse_caption_list(response) == items
