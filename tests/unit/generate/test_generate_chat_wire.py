"""The chat wire format, pure: chunks and bodies folded into an answer, wrong shapes refused."""

from __future__ import annotations

import pytest

from qi_load.generate.chat_wire import (
    CONTENT,
    TOKEN,
    Answer,
    Fault,
    take_body,
    take_chunk,
    token_count,
)

DEEP = "[" * 100_000 + "]" * 100_000


def fold(*chunks: str) -> tuple[Answer, list[int], dict[str, float]]:
    answer, phases = Answer(), {}
    carried = [take_chunk(chunk, answer, phases) for chunk in chunks]
    return answer, carried, phases


def test_chunks_fold_into_an_answer_with_what_each_carried() -> None:
    answer, carried, phases = fold(
        '{"choices":[{"delta":{"role":"assistant","content":null}}]}',
        '{"choices":[{"delta":{"reasoning_content":"hm"}}]}',
        '{"choices":[{"delta":{"content":"4"}}]}',
        '{"choices":[{"delta":{"tool_calls":[{"index":0,"id":"a"}]}}]}',
        '{"choices":[{"delta":{},"finish_reason":"stop"}],"usage":null}',
        '{"choices":[],"usage":{"completion_tokens":3},"timings":{"prompt_ms":1,"predicted_ms":2}}',
    )
    assert carried == [0, TOKEN, TOKEN | CONTENT, TOKEN, 0, 0]
    assert answer.content == ["4"] and answer.reasoning == ["hm"] and answer.tool_ids == {0}
    assert answer.finished and answer.usage == {"completion_tokens": 3}
    assert phases == {"llm": 3.0}


@pytest.mark.parametrize(
    "chunk",
    [
        '{"choices":[1]}',
        '{"choices":[null]}',
        '{"choices":"x"}',
        '{"choices":[{"delta":"x"}]}',
        '{"choices":[{"delta":{"content":{"a":1}}}]}',
        '{"choices":[{"delta":{"tool_calls":[{"index":{"a":1}}]}}]}',
        '{"usage":[1]}',
        '{"error":{"message":' + DEEP[:1000] + "}}",
        DEEP,
        "[1]",
        "not json",
    ],
)
def test_wrong_shapes_are_protocol_faults(chunk: str) -> None:
    with pytest.raises(Fault) as caught:
        fold(chunk)
    assert caught.value.kind == "protocol" and len(str(caught.value)) < 300


def test_bodies_and_token_counts() -> None:
    answer = take_body(b'{"choices":[{"message":{"content":"4"}}],"usage":{"prompt_tokens":2}}')
    assert answer.content == ["4"] and token_count(answer.usage or {}, "prompt_tokens") == 2
    assert token_count({}, "completion_tokens") is None
    for bad in (-1, 1.5, "3", True, 10**12):
        with pytest.raises(Fault, match="not a token count"):
            token_count({"completion_tokens": bad}, "completion_tokens")
    with pytest.raises(Fault, match="message is a string"):
        take_body(b'{"choices":[{"message":"x"}]}')
    with pytest.raises(Fault, match="error object in response: \\?\\[2J boom"):
        take_body(b'{"error":{"message":"\\u001b[2J boom"}}')
