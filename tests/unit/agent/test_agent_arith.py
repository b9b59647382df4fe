"""Safe arithmetic: the right value for arithmetic, a refusal for anything else."""

from __future__ import annotations

import operator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qi_load.agent.arith import (
    ExpressionError,
    evaluate,
    extract_expression,
    format_number,
    solve,
)


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        ("2 + 2", 4),
        ("2+3*4", 14),
        ("(2 + 3) * 4", 20),
        ("-3 + +5", 2),
        ("7 / 2", 3.5),
        ("7 // 2", 3),
        ("7 % 4", 3),
        ("2 ** 10", 1024),
        ("1.5 * 4", 6.0),
    ],
)
def test_evaluates_arithmetic(expression: str, value: float) -> None:
    assert evaluate(expression) == value


@pytest.mark.parametrize(
    "expression",
    [
        "__import__('os').system('true')",
        "open('/etc/passwd')",
        "x + 1",
        "(1).__class__",
        "[1, 2]",
        "True + 1",
        "'a' * 3",
        "1 if 1 else 2",
        "lambda: 1",
        "2 ** 1000",
        "10 ** 99 * 10 ** 99",
        "1 / 0",
        "5 % 0",
        "2 +",
        "1" * 201,
    ],
)
def test_refuses_everything_else(expression: str) -> None:
    with pytest.raises(ExpressionError):
        evaluate(expression)


@pytest.mark.parametrize(
    ("question", "expression"),
    [
        ("What is 2 + 2?", "2 + 2"),
        ("What is 2 plus 2?", "2 + 2"),
        ("Compute (3+4)*2 please.", "(3+4)*2"),
        ("what's 6x7", "6 * 7"),
        ("12 divided by 4", "12 / 4"),
        ("What is 2^8?", "2 ** 8"),
        ("The capital of France?", None),
        ("I have 3 apples", None),
    ],
)
def test_finds_the_expression_in_a_question(question: str, expression: str | None) -> None:
    assert extract_expression(question) == expression


def test_formats_integral_values_without_a_decimal_point() -> None:
    assert format_number(4.0) == "4"
    assert format_number(3.5) == "3.5"
    assert format_number(1 / 3) == "0.3333333333"
    assert format_number(12) == "12"


_OPS = {"+": operator.add, "-": operator.sub, "*": operator.mul}


@given(
    a=st.integers(min_value=0, max_value=10**6),
    b=st.integers(min_value=0, max_value=10**6),
    op=st.sampled_from(sorted(_OPS)),
)
def test_answers_any_binary_question_exactly(a: int, b: int, op: str) -> None:
    solved = solve(f"What is {a} {op} {b}?")
    assert solved is not None
    assert solved[1] == _OPS[op](a, b)
