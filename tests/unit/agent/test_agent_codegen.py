"""Code answers compile and define a function; wrong ones do not compile."""

from __future__ import annotations

import ast
import re

import pytest

from qi_load.agent.codegen import TEMPLATES, code_answer

_BLOCK = re.compile(r"```python\n(.*?)```", re.S)
_REQUESTS = [" ".join(keywords) for keywords, _, _ in TEMPLATES] + ["do something useful"]


@pytest.mark.parametrize("request_text", _REQUESTS)
def test_every_answer_has_a_compiling_function(request_text: str) -> None:
    match = _BLOCK.search(code_answer(f"Write a Python function to {request_text}"))
    assert match is not None
    tree = ast.parse(match.group(1))
    assert any(isinstance(node, ast.FunctionDef) for node in tree.body)
    compile(match.group(1), "<answer>", "exec")


@pytest.mark.parametrize("request_text", _REQUESTS)
def test_wrong_answers_do_not_compile(request_text: str) -> None:
    match = _BLOCK.search(code_answer(request_text, wrong=True))
    assert match is not None
    with pytest.raises(SyntaxError):
        compile(match.group(1), "<answer>", "exec")
