"""Which of the five query types a chat request is, from its last user message."""

from __future__ import annotations

import re
from typing import Final

from qi_load.agent.arith import extract_expression
from qi_load.agent.cues import cue_text
from qi_load.agent.sandbox import find_path
from qi_load.vocabulary import QUERY_TYPES, QueryType

__all__ = ["classify"]

_TOOL_GROUPS: Final = (
    re.compile(r"\b(?:weather|temperature|forecast|rain|sunny)\b", re.I),
    re.compile(r"\b(?:calendar|event|meeting|appointment|schedule|remind(?:er)?)\b", re.I),
    re.compile(r"\b(?:calculat\w*|compute)\b", re.I),
)
_FILE: Final = re.compile(r"\b(?:files?|read|open|director(?:y|ies)|folder|contents? of)\b", re.I)
_CODE: Final = re.compile(
    r"\b(?:write|implement|code|generate|create|give me)\b.{0,60}?"
    r"\b(?:function|class|script|program|method|snippet|code)\b"
    r"|\b(?:python|javascript|typescript|rust|java|go|sql)\s+(?:function|code|script|class)\b",
    re.I | re.S,
)
_REASONING: Final = re.compile(
    r"\b(?:explain|why|trade-?offs?|compare|comparison|analy[sz]e|pros and cons|reason|"
    r"step by step|evaluate|discuss|design|architecture|strateg\w*)\b",
    re.I,
)
_LONG_QUESTION_WORDS: Final = 40


def classify(text: str, forced: str | None = None) -> QueryType:
    """`forced` (metadata.query_type) if given, else the type whose cues the text shows
    (a long text is read at both ends, see `cue_text`).

    Order matters: tool use beats files (a tool request may name a file), a named file beats
    code and reasoning ("read and analyze package.json"), code beats talk about files ("write
    code that reads a file") and reasoning ("write a function to compare ..."), and arithmetic
    or a short question is `simple`.
    """
    if forced is not None:
        for query_type in QUERY_TYPES:
            if forced == query_type:
                return query_type
        raise ValueError(f"unknown query type {forced!r}")
    text = cue_text(text)
    if sum(1 for group in _TOOL_GROUPS if group.search(text)) >= 2:
        return "multi_tool"
    if find_path(text) is not None:
        return "file_operations"
    if _CODE.search(text):
        return "code_generation"
    if _FILE.search(text) and "file" in text.lower():
        return "file_operations"
    if _REASONING.search(text) and extract_expression(text) is None:
        return "reasoning"
    if extract_expression(text) is None and len(text.split()) > _LONG_QUESTION_WORDS:
        return "reasoning"
    return "simple"
