"""``requests.csv`` rows of a whole batch as one text, formatted a column at a time.

The master writes every request of the run; ``csv.writer`` formats one cell at a time in
Python. Here a batch becomes one ``%`` format call (numbers formatted in C), after the few
columns that need it are prepared: flags as words, a ``None`` as an empty cell, text that
holds a comma, quote or line break quoted. The text is what ``csv.writer`` writes for
``RequestRecord.to_row()`` (the excel dialect: ``\\r\\n`` line ends, minimal quoting), except
that a float field holding an int writes it with four decimals like every float.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Sequence
from typing import Any, Final

from qi_load.record.schema import REQUEST_COLUMNS, REQUEST_TABLE, RequestRecord

__all__ = ["request_rows_text"]

_GETTERS: Final = tuple(operator.attrgetter(name) for name in REQUEST_COLUMNS)
_KINDS: Final = tuple((f.kind, f.optional) for f in REQUEST_TABLE if f.column.csv)
_NUMBER_SPEC: Final[dict[type, str]] = {float: "%.4f", int: "%d"}
_WORD: Final = {True: "true", False: "false", None: ""}.__getitem__
_SPECIAL: Final = re.compile(r'[,"\r\n]')
"""What makes ``csv.writer`` (QUOTE_MINIMAL) quote a cell."""


def request_rows_text(records: Sequence[RequestRecord]) -> str:
    """The CSV lines of ``records`` in ``REQUEST_COLUMNS`` order (empty for no records)."""
    n, width = len(records), len(_GETTERS)
    if not n:
        return ""
    # A list per column, then one flat tuple by slice assignment: no tuple per row, which
    # would be as many objects for the garbage collector as there are records.
    cells: list[Any] = [None] * (n * width)
    specs = []
    for i, (get, (kind, optional)) in enumerate(zip(_GETTERS, _KINDS, strict=True)):
        column: list[Any] = list(map(get, records))
        spec = "%s"
        if kind is bool:
            column = list(map(_WORD, column))
        elif kind is str:
            column = _quoted(column)
        elif optional and None in column:
            column = _with_empty_cells(column, _NUMBER_SPEC[kind])
        else:
            spec = _NUMBER_SPEC[kind]
        specs.append(spec)
        cells[i::width] = column
    return ((",".join(specs) + "\r\n") * n) % tuple(cells)


def _with_empty_cells(column: list[Any], spec: str) -> list[str]:
    """Numbers formatted in one call; ``None`` as an empty cell (found by C-level scans:
    a column is mostly numbers or all ``None``)."""
    n, count = len(column), column.count(None)
    if count == n:
        return [""] * n
    nones, at = [], -1
    for _ in range(count):
        at = column.index(None, at + 1)
        nones.append(at)
        column[at] = 0
    text: list[str] = ((spec + "\0") * n % tuple(column)).split("\0")
    for at in nones:
        text[at] = ""
    return text[:-1]


def _quoted(column: list[str]) -> list[str]:
    if _SPECIAL.search("".join(column)) is None:
        return column
    return ['"' + v.replace('"', '""') + '"' if _SPECIAL.search(v) else v for v in column]
