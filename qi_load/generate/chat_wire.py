"""The OpenAI chat wire format: chunks and bodies folded into an answer, every shape checked.

Pure (no I/O): ``take_chunk`` folds one streamed ``chat.completion.chunk``, ``take_body`` a
whole ``chat.completion``; anything that is not the documented shape (a choice that is not
an object, a ``delta`` string, content that is not text, JSON nested past the parser's
stack ...) raises ``Fault("protocol", ...)``, which the client turns into a failed result.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Final

from qi_load.generate.transport import Fault, server_text

__all__ = [
    "CONTENT",
    "TOKEN",
    "Answer",
    "Fault",
    "parse_server_timing",
    "take_body",
    "take_chunk",
    "token_count",
]

# What a chunk carried, as bits: any token (content, reasoning or tool call), and content.
TOKEN: Final = 1
CONTENT: Final = 2
_MAX_TOKENS: Final = 10**9
"""Above this a token count is not a count: the server's usage is broken."""


_SERVER_TIMING_ENTRY = re.compile(
    r'(?:^|,)\s*([^\s,;]++)[^,]*?;\s*dur\s*=\s*"?([^\s,;"]+)', re.IGNORECASE
)
"""One ``name;...;dur=value`` entry (one regex pass: this runs on every response). The
name is possessive: backtracking into it made a long entry without ``dur`` quadratic."""


def parse_server_timing(header: str) -> dict[str, float]:
    """``request;dur=1.2, llm;dur=30`` -> ``{"request": 1.2, "llm": 30.0}`` (bad parts, and
    durations that are negative or not finite, skipped)."""
    phases: dict[str, float] = {}
    for name, value in _SERVER_TIMING_ENTRY.findall(header):
        try:  # a plain try costs nothing until it raises; contextlib.suppress costs ~1 µs
            ms = float(value)
        except ValueError:
            continue
        if 0.0 <= ms < math.inf:
            phases[name] = ms
    return phases


def _duration(value: object) -> float | None:
    """A server-reported duration in ms: a finite, non-negative JSON number, else None."""
    if type(value) is not int and type(value) is not float:
        return None
    try:
        ms = float(value)
    except OverflowError:  # an integer beyond any float
        return None
    return ms if 0.0 <= ms < math.inf else None


class Answer:
    """Accumulates the parts of an answer, streamed or not."""

    __slots__ = ("content", "done", "finished", "reasoning", "tool_ids", "usage")

    def __init__(self) -> None:
        self.content: list[str] = []
        self.reasoning: list[str] = []
        self.tool_ids: set[Any] = set()
        self.usage: dict[str, Any] | None = None
        self.done = False  # data: [DONE] arrived
        self.finished = False  # a choice carried a finish_reason


_decode_json = json.JSONDecoder().decode


def take_chunk(data: str, answer: Answer, phases: dict[str, float]) -> int:
    """Fold one ``chat.completion.chunk`` into ``answer``; what it carried (``TOKEN`` and
    ``CONTENT`` bits, 0 for none: a role-only, usage-only or empty chunk)."""
    try:
        obj = _decode_json(data)
    except ValueError:
        raise Fault("protocol", f"invalid JSON in data: {data[:80]!r}") from None
    except RecursionError:
        raise Fault("protocol", f"JSON in data nested too deeply: {data[:80]!r}") from None
    if type(obj) is not dict:
        raise Fault("protocol", f"data is not a JSON object: {data[:80]!r}")
    if "error" in obj:
        _raise_error_object(obj)
    carried = 0
    choices = obj.get("choices")
    if choices:
        for choice in _choices(obj):
            if choice.get("finish_reason"):
                answer.finished = True
            delta = choice.get("delta")
            if delta is None:
                continue
            if type(delta) is not dict:
                raise Fault("protocol", f"a choice's delta is {_what(delta)}, not an object")
            content = delta.get("content")
            if len(delta) == 1 and type(content) is str and content:
                # The usual chunk, inlined: a plain piece of content.
                answer.content.append(content)
                carried = TOKEN | CONTENT
            elif delta:
                carried |= _take_delta(delta, answer)
    if "usage" in obj:
        answer.usage = _usage(obj) or answer.usage
    llama = obj.get("timings")
    if llama is not None and type(llama) is dict:
        # llama.cpp's own account beside the usage: prefill plus generation is its LLM time.
        prefill, generation = (
            _duration(llama.get("prompt_ms")),
            _duration(llama.get("predicted_ms")),
        )
        if prefill is not None and generation is not None:
            phases["llm"] = prefill + generation
    timing = obj.get("server_timing")
    if timing is not None and type(timing) is dict:
        for name, value in timing.items():
            ms = _duration(value)
            if ms is not None:
                phases[name] = ms
    return carried


def _what(value: object) -> str:
    """A JSON value's kind for a message (never its text: it may be huge or nested)."""
    if value is None:
        return "null"
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), "a number"
    )


def _choices(obj: dict[str, Any]) -> list[dict[str, Any]]:
    """The ``choices`` of a chunk or body: a list of objects (absent or null: none)."""
    choices = obj.get("choices")
    if choices is None:
        return []
    if type(choices) is not list:
        raise Fault("protocol", f"choices is {_what(choices)}, not a list")
    for choice in choices:
        if type(choice) is not dict:
            raise Fault("protocol", f"a choice is {_what(choice)}, not an object")
    return choices


def _usage(obj: dict[str, Any]) -> dict[str, Any] | None:
    """The ``usage`` object (null: none; streams send it null before the last chunk)."""
    usage = obj.get("usage")
    if usage is not None and type(usage) is not dict:
        raise Fault("protocol", f"usage is {_what(usage)}, not an object")
    return usage


def token_count(usage: dict[str, Any], key: str) -> int | None:
    """A token count of the usage: absent or null is None; anything but a count is a fault."""
    value = usage.get(key)
    if value is None:
        return None
    if type(value) is not int or not 0 <= value <= _MAX_TOKENS:
        shown = str(value)[:40] if type(value) is int else _what(value)
        raise Fault("protocol", f"usage.{key} is not a token count: {shown}")
    return value


def _take_delta(delta: dict[str, Any], answer: Answer) -> int:
    """Fold a delta (or a whole message) into ``answer``; the ``TOKEN``/``CONTENT`` bits."""
    carried = 0
    content = delta.get("content")
    if content:
        if type(content) is not str:
            raise Fault("protocol", f"content is {_what(content)}, not a string")
        answer.content.append(content)
        carried = TOKEN | CONTENT
    reasoning = delta.get("reasoning_content") or delta.get("reasoning")
    if reasoning:
        if type(reasoning) is not str:
            raise Fault("protocol", f"reasoning is {_what(reasoning)}, not a string")
        answer.reasoning.append(reasoning)
        carried |= TOKEN
    calls = delta.get("tool_calls")
    if calls:
        if type(calls) is not list:
            raise Fault("protocol", f"tool_calls is {_what(calls)}, not a list")
        carried |= TOKEN
        for position, call in enumerate(calls):
            if type(call) is not dict:
                raise Fault("protocol", f"a tool call is {_what(call)}, not an object")
            # Streamed fragments of one call share its index; whole messages list each once.
            key = call.get("index", call.get("id", position))
            if type(key) is not int and type(key) is not str:
                raise Fault("protocol", f"a tool call's index is {_what(key)}")
            answer.tool_ids.add(key)
    return carried


def _raise_error_object(obj: dict[str, Any]) -> None:
    error = obj.get("error")
    if error:
        message = error.get("message", error) if type(error) is dict else error
        text = message if type(message) is str else f"({_what(message)})"
        raise Fault("protocol", f"error object in response: {server_text(text)}")


def take_body(raw: bytes) -> Answer:
    """A whole (non-streamed) ``chat.completion`` body as an answer."""
    try:
        obj = json.loads(raw)
    except ValueError as exc:  # UnicodeDecodeError too: JSON must be UTF-8
        raise Fault("protocol", f"invalid JSON body: {str(exc)[:200]}") from None
    except RecursionError:
        raise Fault("protocol", "JSON body nested too deeply") from None
    if type(obj) is not dict:
        raise Fault("protocol", "JSON body is not an object")
    _raise_error_object(obj)
    answer = Answer()
    for choice in _choices(obj):
        message = choice.get("message")
        if message is None:
            continue
        if type(message) is not dict:
            raise Fault("protocol", f"a choice's message is {_what(message)}, not an object")
        _take_delta(message, answer)
    answer.usage = _usage(obj)
    return answer
