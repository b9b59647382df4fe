"""Reasoning answers: long, structured explanations with headed sections."""

from __future__ import annotations

import re
from typing import Final

__all__ = ["reasoning_answer", "topic_of"]

_LEAD: Final = re.compile(
    r"^(?:please\s+)?(?:explain|describe|discuss|compare|analy[sz]e|evaluate|reason about|"
    r"what are|why (?:is|are|do|does)|how (?:do|does|should))\s+(?:the\s+)?",
    re.IGNORECASE,
)

_SORTING: Final = """## Overview

Sorting algorithms differ less in what they produce than in how they spend time, memory and \
stability. The right choice depends on the size of the input, how sorted it already is, \
whether equal keys must keep their order, and how expensive comparisons and moves are.

## The main trade-offs

1. **Quicksort** is usually the fastest in practice thanks to good cache locality, with \
O(n log n) average time, but its worst case is O(n^2) and it is not stable.
2. **Merge sort** guarantees O(n log n) and is stable, at the price of O(n) extra memory; \
it is the natural choice for linked lists and external sorting.
3. **Heapsort** guarantees O(n log n) with O(1) extra memory, but it is not stable and its \
scattered memory access makes it slower than quicksort on real hardware.
4. **Insertion sort** is O(n^2) in general, yet it beats everything on tiny or nearly \
sorted inputs, which is why hybrid algorithms use it for small partitions.

## In practice

Production libraries use hybrids: Timsort (Python, Java objects) merges natural runs and \
is stable; introsort (C++) starts as quicksort and falls back to heapsort to bound the \
worst case. Counting and radix sort escape the comparison lower bound when keys are small \
integers or fixed-width strings.

## Recommendation

Use the language's built-in sort unless measurements show a problem. Reach for a \
specialised algorithm only with a reason: memory limits, stability needs, data that does \
not fit in memory, or keys that allow a non-comparison sort."""

_GENERIC: Final = """## Overview

The question "{topic}" is best approached by separating what we want to achieve from \
the constraints we work under. The useful questions are what is being optimised, what it \
costs, and who pays that cost, because every option moves the cost somewhere rather than \
removing it.

## Key considerations

1. **Goals.** State the outcome that matters most and how it will be measured; without a \
measure, every option looks equally good.
2. **Constraints.** Time, memory, money and the skills of the people involved limit which \
options are realistic.
3. **Risks.** Consider what happens when assumptions fail: a design that degrades \
gracefully is often worth more than one that is optimal only on average.
4. **Reversibility.** Prefer choices that are cheap to undo while the evidence is thin.

## Weighing the options

Compare the options on the same criteria, with numbers where possible. A simple option \
that meets the goal usually beats a sophisticated one that exceeds it, because it is easier \
to operate, explain and change.

## Recommendation

Start from the simplest option that meets the stated goal, measure it, and move to a more \
complex one only when a measurement shows the simple one falls short."""


def topic_of(request: str) -> str:
    """The subject of a reasoning request, without its leading verb and final punctuation."""
    topic = _LEAD.sub("", request.strip()).rstrip(" ?.!")
    return topic or "this question"


def reasoning_answer(request: str, *, wrong: bool = False) -> str:
    """A structured answer; `wrong` flattens it into one unstructured paragraph."""
    sorting = "sort" in request.lower()
    text = _SORTING if sorting else _GENERIC.replace("{topic}", topic_of(request))
    if wrong:
        lines = [line for line in text.splitlines() if line and not line.startswith("#")]
        return " ".join(line.lstrip("0123456789. ") for line in lines)
    return text
