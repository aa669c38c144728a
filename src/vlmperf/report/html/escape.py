"""Escaping for the two places untrusted text lands in the page: HTML text and JSON in a script.

Model outputs, sample ids, dataset fields, error messages and config values are untrusted: a
caption may hold `<script>`. Everything goes through `text()` before it is written into markup,
and every JSON document embedded in a `<script>` element goes through `script_json()`, which
writes `<`, `>` and `&` as `\\u003c`-style escapes so no string in it can close the element.
"""

from __future__ import annotations

import html
from typing import Any

import orjson

_SCRIPT_SAFE = {
    ord("<"): "\\u003c",
    ord(">"): "\\u003e",
    ord("&"): "\\u0026",
    0x2028: "\\u2028",  # line separators end a line in older JavaScript parsers
    0x2029: "\\u2029",
}


def text(value: Any) -> str:
    """Any value as HTML text or attribute content (quotes escaped too); None as an empty string."""
    return "" if value is None else html.escape(str(value), quote=True)


def script_json(value: Any) -> str:
    """JSON for a `<script type="application/json">` element, safe against `</script>` inside strings."""
    dumped = orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS).decode()
    return dumped.translate(_SCRIPT_SAFE)


def plot_text(value: Any) -> str:
    """Text for a plotly label (trace name, hover text, tick): plotly reads a subset of HTML in
    labels (`<b>`, `<a href>`, `<br>`), so config values are escaped and shown literally."""
    return html.escape(str(value), quote=False)


def clipped(value: str, limit: int) -> str:
    """`value` as HTML text, cut after `limit` characters with a note of how many were left out."""
    cut = f' <span class="meta">[{len(value) - limit} more characters]</span>' if len(value) > limit else ""
    return text(value[:limit]) + cut
