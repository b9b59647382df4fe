"""Terminal tables: column widths, alignment, and cell formatting."""

from __future__ import annotations

import pytest

from qi_load.render.text_table import fmt, format_table


def test_columns_are_padded_and_numbers_right_aligned() -> None:
    text = format_table(["name", "value"], [["a", "1.0"], ["longer", "123.4"]])
    lines = text.splitlines()
    assert lines[0] == "name    value"
    assert lines[1] == "------  -----"
    assert lines[2] == "a         1.0"
    assert lines[3] == "longer  123.4"


def test_row_of_wrong_length_is_an_error() -> None:
    with pytest.raises(ValueError, match="2 cells"):
        format_table(["a", "b", "c"], [["1", "2"]])


def test_fmt() -> None:
    assert fmt(None) == "-"
    assert fmt(3) == "3"
    assert fmt(1234.567) == "1,234.6"
    assert fmt(0.12345, 3) == "0.123"
