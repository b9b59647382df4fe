"""Safe arithmetic: find an expression in a question and evaluate it with `ast`, never `eval`."""

from __future__ import annotations

import ast
import math
import operator
import re
from collections.abc import Callable
from typing import Final

__all__ = ["ExpressionError", "evaluate", "extract_expression", "format_number", "solve"]

_MAX_LENGTH: Final = 200
_MAX_EXPONENT: Final = 64
_MAX_MAGNITUDE: Final = 1e100

_WORDS: Final = (
    (re.compile(r"\bplus\b", re.I), "+"),
    (re.compile(r"\bminus\b", re.I), "-"),
    (re.compile(r"\b(?:times|multiplied by)\b", re.I), "*"),
    (re.compile(r"\bdivided by\b", re.I), "/"),
    (re.compile(r"\bto the power of\b", re.I), "**"),
    (re.compile(r"(?<=\d)\s*[x\u00d7]\s*(?=\d)", re.I), "*"),
    (re.compile("\u00f7"), "/"),
    (re.compile(r"\^"), "**"),
)
# Runs of digits, operators, parentheses, dots and spaces; the longest run with a digit wins.
_CANDIDATE: Final = re.compile(r"[\d.\s()+\-*/%]+")

_BINARY: Final[dict[type[ast.operator], Callable[[float, float], float]]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: Final[dict[type[ast.unaryop], Callable[[float], float]]] = {
    ast.UAdd: operator.pos,
    ast.USub: operator.neg,
}


class ExpressionError(ValueError):
    """The text is not arithmetic we evaluate (syntax, a name, division by zero, too large)."""


def _eval(node: ast.AST) -> float:
    if isinstance(node, ast.Expression):
        return _eval(node.body)
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        if isinstance(node.value, bool):
            raise ExpressionError("booleans are not numbers here")
        return node.value
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_eval(node.operand))
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _eval(node.left), _eval(node.right)
        if isinstance(node.op, ast.Pow) and abs(right) > _MAX_EXPONENT:
            raise ExpressionError(f"exponent {format_number(right)} is too large")
        try:
            result = _BINARY[type(node.op)](left, right)
        except ZeroDivisionError:
            raise ExpressionError("division by zero") from None
        if isinstance(result, complex) or abs(result) > _MAX_MAGNITUDE:
            raise ExpressionError("result out of range")
        return result
    raise ExpressionError(f"unsupported element {type(node).__name__}")


def evaluate(expression: str) -> float:
    """Value of an arithmetic expression: numbers, + - * / // % **, parentheses, unary signs."""
    if len(expression) > _MAX_LENGTH:
        raise ExpressionError(f"expression longer than {_MAX_LENGTH} characters")
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError:
        raise ExpressionError(f"not an arithmetic expression: {expression.strip()!r}") from None
    return _eval(tree)


def extract_expression(text: str) -> str | None:
    """The arithmetic in a question ("What is 2 plus 2?" -> "2 + 2"), or None."""
    normalized = text
    for pattern, symbol in _WORDS:
        normalized = pattern.sub(f" {symbol} ", normalized)
    best: str | None = None
    for match in _CANDIDATE.finditer(normalized):
        candidate = " ".join(match.group().split()).strip(" .")
        has_operator = re.search(r"\d\s*(?:[+\-*/%]|\*\*)\s*[\d(.-]", candidate) is not None
        if has_operator and (best is None or len(candidate) > len(best)):
            best = candidate
    return best


def format_number(value: float) -> str:
    """Integers without a decimal point, other values with up to 10 significant digits."""
    if isinstance(value, int):
        return str(value)
    if math.isfinite(value) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return format(value, ".10g")


def solve(text: str) -> tuple[str, float] | None:
    """(expression, value) for the arithmetic in `text`; None if there is none or it fails."""
    expression = extract_expression(text)
    if expression is None:
        return None
    try:
        return expression, evaluate(expression)
    except ExpressionError:
        return None
