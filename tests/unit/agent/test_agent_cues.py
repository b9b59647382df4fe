"""Hostile prompts: classification and every scan of user text stay linear and bounded."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Callable
from typing import Any

import pytest

from qi_load.agent import arith, reasoning, sandbox, tools
from qi_load.agent.agent import Agent
from qi_load.agent.classify import classify
from qi_load.agent.cues import CUE_CHARS, cue_text
from qi_load.agent.tokens import tokenize
from qi_load.vocabulary import QUERY_TYPES

MIB = 1 << 20

# Shapes that made a backtracking pattern quadratic (long runs of one class, repeated
# near-misses of a cue), each repeated to the requested length.
HOSTILE_UNITS = ("a", "a.", "a/", "1", "1+", "1 ", ".", "-", " ", "(", "in A", "at 1", "event ")

SCANS: dict[str, Callable[[str], object]] = {
    "find_path": sandbox.find_path,
    "extract_expression": arith.extract_expression,
    "extract_city": tools.extract_city,
    "extract_event_title": tools.extract_event_title,
    "extract_when": lambda text: tools.extract_when(text, dt.date(2026, 1, 1)),
    "topic_of": reasoning.topic_of,
    "tokenize": tokenize,
}


def _hostile(unit: str, size: int) -> str:
    return (unit * (size // len(unit) + 1))[:size]


def _seconds(call: Callable[[], object], bound: float) -> float:
    """Best of three: the machine is shared, a single run measures its neighbours. A run
    already under ``bound`` ends it: the best of three could only be lower."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - started)
        if best < bound:
            break
    return best


@pytest.mark.parametrize("name", sorted(SCANS))
def test_every_scan_of_user_text_is_linear(name: str) -> None:
    # 32 KiB with no window: a quadratic scan takes many seconds here (the old path pattern
    # took 10 s on 40 KB), a linear one milliseconds; the bound leaves room for a busy machine.
    scan = SCANS[name]
    for unit in HOSTILE_UNITS:
        text = _hostile(unit, 32 * 1024)
        started = time.perf_counter()
        scan(text)
        assert time.perf_counter() - started < 1.0, (name, unit)


@pytest.mark.parametrize("unit", HOSTILE_UNITS)
def test_a_one_mib_prompt_is_classified_in_milliseconds(unit: str) -> None:
    text = _hostile(unit, MIB)
    # The target is 50 ms (measured 7-25 ms on a loaded 2-core VM); generous for CI.
    assert _seconds(lambda: classify(text), 0.25) < 0.25, unit


class _Tools:
    async def call(self, name: str, arguments: dict[str, Any]) -> str:
        return f"{name}: ok"


@pytest.mark.parametrize("query_type", QUERY_TYPES)
def test_answering_a_one_mib_prompt_is_bounded(query_type: str) -> None:
    agent = Agent(_Tools())
    text = _hostile("a.", MIB)
    seconds = _seconds(lambda: asyncio.run(agent.answer(query_type, text)), 0.5)  # type: ignore[arg-type]
    assert seconds < 0.5, query_type


def test_cue_text_keeps_short_prompts_and_both_ends_of_long_ones() -> None:
    assert cue_text("What is 2 + 2?") == "What is 2 + 2?"
    long = "Explain this. " + "x" * MIB + " Then read package.json"
    window = cue_text(long)
    assert len(window) <= 2 * CUE_CHARS + 2
    assert window.startswith("Explain this.") and window.endswith("read package.json")
    assert classify(long) == "file_operations"


def test_path_search_still_finds_paths_after_other_text() -> None:
    assert sandbox.find_path("aaaa bbb/ccc.txt") == "bbb/ccc.txt"
    assert sandbox.find_path("see ~/notes.md, please") == "~/notes.md"
    assert sandbox.find_path("x" * 10_000 + " src/index.js") == "src/index.js"
