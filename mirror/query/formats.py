"""Printing query results as an aligned table, CSV or JSON."""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import io
import json
from typing import Any

from mirror.query.sql import QueryResult

# Longer cells are cut in the table format, so that one transcript does not
# push every other column off the screen; CSV and JSON keep them whole.
MAX_CELL_CHARS = 60


def as_table(result: QueryResult) -> str:
    """Columns padded to line up, a rule under the header, NULL as empty."""
    cells = [[_table_cell(value) for value in row] for row in result.rows]
    widths = [
        max([len(name)] + [len(row[index]) for row in cells])
        for index, name in enumerate(result.columns)
    ]

    lines = [
        _padded(result.columns, widths),
        _padded(["-" * w for w in widths], widths),
    ]
    lines += [_padded(row, widths) for row in cells]
    return "\n".join(lines)


def as_csv(result: QueryResult) -> str:
    """CSV with a header row, quoted as RFC 4180 says; NULL as an empty field."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(result.columns)
    writer.writerows([_text(value) for value in row] for row in result.rows)
    return buffer.getvalue()


def as_json(result: QueryResult) -> str:
    """A JSON array with one object per row, keyed by column name."""
    objects = [dict(zip(result.columns, row, strict=True)) for row in result.rows]
    return json.dumps(objects, ensure_ascii=False, default=json_value)


def json_value(value: Any) -> Any:
    """What JSON cannot hold directly: times as ISO 8601, bytes as hex."""
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    return str(value)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, default=json_value)
    if isinstance(value, str):
        return value
    encoded = json_value(value) if not isinstance(value, int | float) else value
    return str(encoded)


def _table_cell(value: Any) -> str:
    text = " ".join(_text(value).split())
    if len(text) > MAX_CELL_CHARS:
        return text[: MAX_CELL_CHARS - 1] + "…"
    return text


def _padded(cells: Any, widths: list[int]) -> str:
    return "  ".join(
        cell.ljust(width) for cell, width in zip(cells, widths, strict=True)
    ).rstrip()
