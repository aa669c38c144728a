"""Sortable HTML tables: the run's summary (the terminal summary's columns plus each failed cell's
error), and the generic `sortable_table` the comparison page uses too.

Cells whose text is a number, or that are given the number they stand for, carry it in
`data-sort`, so the page's script sorts numerically (`12` after `9`) without parsing formatted
text; everything else sorts as text.
"""

from __future__ import annotations

import math
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
    """summary_table's header and rows with an `error` column; a failed row's figures left blank."""
    header, rows = summary_table(document)
    status = header.index("status")
    out = []
    for cell, row in zip(document["cells"], rows):
        if cell["status"] == "ok":
            out.append([*row, ""])
        else:
            out.append([*row[: status + 1], *([""] * (len(header) - status - 1)), _error_text(cell["error"])])
    return [*header, "error"], out


Cell = str | tuple[str, float | None]
"""A table cell: its text (sorted as a number when it reads as one), or (text, the number it sorts by)."""


def _number_key(number: float | None) -> str | None:
    return repr(float(number)) if number is not None and math.isfinite(number) else None


def _td(cell: Cell) -> str:
    shown, key = (cell[0], _number_key(cell[1])) if isinstance(cell, tuple) else (cell, _sort_key(cell))
    sort = f' data-sort="{key}"' if key is not None else ""
    return f"<td{sort}>{text(shown)}</td>"


def sortable_table(table_id: str, header: list[str], rows: list[tuple[list[Cell], dict[str, str]]]) -> str:
    """A table the page's script sorts on a header click: `rows` are (cells, the row's attributes)."""
    head = "".join(f'<th scope="col" data-col="{i}" aria-sort="none">{text(h)}</th>' for i, h in enumerate(header))
    body = "".join(
        "<tr" + "".join(f' {name}="{text(value)}"' for name, value in attrs.items()) + ">"
        + "".join(_td(cell) for cell in cells) + "</tr>"
        for cells, attrs in rows
    )
    return f'<table id="{text(table_id)}" class="sortable"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def summary_table_html(document: dict[str, Any]) -> str:
    header, rows = table_rows(document)
    attrs = [{"data-cell": cell["id"], "data-status": cell["status"]} for cell in document["cells"]]
    return sortable_table("summary", header, list(zip(rows, attrs)))
