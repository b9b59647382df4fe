"""Query-type classification from the last user message."""

from __future__ import annotations

import pytest

from qi_load.agent.classify import classify
from qi_load.vocabulary import QUERY_TYPES


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # The methodology's examples, one per type.
        ("What is 2 + 2?", "simple"),
        ("Write a Python function to sort a list", "code_generation"),
        ("Read and analyze the package.json file", "file_operations"),
        ("Check the weather and create a calendar event", "multi_tool"),
        ("Explain the trade-offs of different sorting algorithms", "reasoning"),
        # Variations.
        ("What is the capital of France?", "simple"),
        ("Implement a class for a bank account in Python", "code_generation"),
        ("Summarize src/index.js", "file_operations"),
        ("What's the forecast in Paris? Also schedule a meeting at 3pm", "multi_tool"),
        ("Compare quicksort and mergesort", "reasoning"),
        ("Write code that reads a file", "code_generation"),
    ],
)
def test_classifies_by_cues(text: str, expected: str) -> None:
    assert classify(text) == expected


@pytest.mark.parametrize("forced", QUERY_TYPES)
def test_metadata_query_type_wins(forced: str) -> None:
    assert classify("What is 2 + 2?", forced) == forced


def test_unknown_forced_type_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown query type"):
        classify("hi", "poetry")
