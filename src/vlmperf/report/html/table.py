"""Sortable HTML tables: the run's summary (the terminal summary's columns, a failed cell's error
where its figures would be), and the generic `sortable_table` the comparison page uses too.

Cells whose text is a number, or that are given the number they stand for, carry it in
`data-sort`, so the page's script sorts numerically (`12` after `9`) without parsing formatted
text; everything else sorts as text.

The tables must fit the page at 1400 px: headers wrap (between words; the summary's also after
the dots of config keys), and a table wider than its wrapper scrolls inside it with its first
`pinned` columns (the summary's cell id and swept keys) kept in view, so each row stays named.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from vlmperf.report.html.escape import text
from vlmperf.report.tables import summary_table


def _error_text(error: dict[str, Any] | None) -> str:
    error = error or {}
    return f"{error.get('type', 'error')}: {error.get('message') or ''}".strip()


def _sort_key(value: str) -> str | None:
    try:
        number = float(value)
    except ValueError:
        return None
    return _number_key(number)  # NaN and infinities sort as text


def table_rows(document: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """summary_table's header and rows, a failed row cut after its status and ending in its whole error
    (which `sortable_table` spans over the figures it has not got)."""
    header, rows = summary_table(document)
    status = header.index("status")
    out = [
        row if cell["status"] == "ok" else [*row[: status + 1], _error_text(cell["error"])]
        for cell, row in zip(document["cells"], rows, strict=True)
    ]
    return header, out


Cell = str | tuple[str, float | None]
"""A table cell: its text (sorted as a number when it reads as one), or (text, the number it sorts by)."""


def _number_key(number: float | None) -> str | None:
    return repr(float(number)) if number is not None and math.isfinite(number) else None


def _pin(index: int, pinned: int) -> str:
    """The class of a cell in column `index`: pinned columns stay in view, the last one edged."""
    if index >= pinned:
        return ""
    return ' class="pin pin-end"' if index == pinned - 1 else ' class="pin"'


def _td(cell: Cell, attrs: str = "") -> str:
    shown, key = (cell[0], _number_key(cell[1])) if isinstance(cell, tuple) else (cell, _sort_key(cell))
    sort = f' data-sort="{key}"' if key is not None else ""
    return f"<td{attrs}{sort}>{text(shown)}</td>"


def _row(cells: Sequence[Cell], columns: int, pinned: int) -> str:
    """A row's cells; in a row shorter than the header the last cell spans the columns left."""
    span = columns - len(cells) + 1
    return "".join(
        _td(cell, _pin(i, pinned) + (f' colspan="{span}"' if i == len(cells) - 1 and span > 1 else ""))
        for i, cell in enumerate(cells)
    )


def dotted(title: str) -> str:
    """A column title as HTML that may wrap after each dot too (`scenario.<wbr>batch_size`)."""
    return text(title).replace(".", ".<wbr>")


def sortable_table(
    table_id: str,
    header: list[str],
    rows: Sequence[tuple[Sequence[Cell], Mapping[str, str]]],
    pinned: int = 0,
    title: Callable[[str], str] = text,
) -> str:
    """A table the page's script sorts on a header click: `rows` are (cells, the row's attributes); its
    first `pinned` columns stay in view when it scrolls sideways; `title` writes a column's title as HTML."""
    head = "".join(
        f'<th scope="col"{_pin(i, pinned)} data-col="{i}" aria-sort="none">{title(h)}</th>'
        for i, h in enumerate(header)
    )
    body = "".join(
        "<tr"
        + "".join(f' {name}="{text(value)}"' for name, value in attrs.items())
        + ">"
        + _row(cells, len(header), pinned)
        + "</tr>"
        for cells, attrs in rows
    )
    pins = f' data-pinned="{pinned}"' if pinned else ""
    return (
        f'<table id="{text(table_id)}" class="sortable"{pins}>'
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    )


def summary_table_html(document: dict[str, Any]) -> str:
    """The summary table, its cell id and swept keys (the columns before `status`) pinned, their
    names wrapping after the dots."""
    header, rows = table_rows(document)
    attrs = [{"data-cell": cell["id"], "data-status": cell["status"]} for cell in document["cells"]]
    return sortable_table(
        "summary", header, list(zip(rows, attrs, strict=True)), pinned=header.index("status"), title=dotted
    )
