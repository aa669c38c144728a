"""The summary table as HTML: the terminal summary's columns plus each failed cell's error.

Cells whose text is a number carry it in `data-sort`, so the page's script sorts numerically
(`12` after `9`) without parsing formatted text; everything else sorts as text.
"""

from __future__ import annotations

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
    return repr(number) if number == number else None  # NaN sorts as text


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


def _td(value: str) -> str:
    key = _sort_key(value)
    sort = f' data-sort="{key}"' if key is not None else ""
    return f"<td{sort}>{text(value)}</td>"


def summary_table_html(document: dict[str, Any]) -> str:
    header, rows = table_rows(document)
    head = "".join(f'<th scope="col" data-col="{i}" aria-sort="none">{text(h)}</th>' for i, h in enumerate(header))
    body = []
    for cell, row in zip(document["cells"], rows):
        cells = "".join(_td(v) for v in row)
        body.append(f'<tr data-cell="{text(cell["id"])}" data-status="{text(cell["status"])}">{cells}</tr>')
    return (
        '<table id="summary" class="sortable">'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    )
