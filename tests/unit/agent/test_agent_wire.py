"""OpenAI wire format of chunks, responses, errors and the Server-Timing header."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from qi_load.agent.wire import (
    DONE,
    ChunkWriter,
    completion_body,
    error_body,
    server_timing_header,
    sse,
)


def test_sse_framing_is_data_json_blank_line() -> None:
    assert sse({"a": "é"}) == 'data: {"a":"é"}\n\n'.encode()
    assert DONE == b"data: [DONE]\n\n"


def test_chunks_have_openai_shape() -> None:
    writer = ChunkWriter("chatcmpl-1", 1700000000, "m", include_usage=False)
    role = json.loads(writer.role()[6:])
    assert list(role) == ["id", "object", "created", "model", "system_fingerprint", "choices"]
    assert role["object"] == "chat.completion.chunk"
    assert role["choices"] == [
        {
            "index": 0,
            "delta": {"role": "assistant", "content": ""},
            "logprobs": None,
            "finish_reason": None,
        }
    ]
    content = json.loads(writer.content(" hi")[6:])
    assert content["choices"][0]["delta"] == {"content": " hi"}
    finish = json.loads(writer.finish("stop", {"server_timing": {"llm": 1.0}})[6:])
    assert finish["choices"][0]["delta"] == {} and finish["choices"][0]["finish_reason"] == "stop"
    assert finish["server_timing"] == {"llm": 1.0}


def _texts(min_size: int = 0) -> st.SearchStrategy[str]:
    """Any text, or pieces JSON escapes and the splice's own marker: plain ``text()``
    seldom draws a quote, a backslash or the marker, where splicing could differ from a
    full serialization. Half the draws are of that kind, so 50 examples meet quotes and
    backslashes several times as often as 100 of ``text()`` did, control characters about
    as often, and the marker at all; drawing, not serializing, was the test's time."""
    tricky = st.sampled_from(['"', "\\", "\x00", "\x1f", "\n", "\u2028", "\u00e9", "qi-token", "a"])
    return st.text(min_size=min_size) | st.lists(tricky, min_size=max(min_size, 1)).map("".join)


@settings(max_examples=50)
@given(text=_texts(), include_usage=st.booleans(), model=_texts(min_size=1))
def test_content_events_equal_a_full_serialization(
    text: str, include_usage: bool, model: str
) -> None:
    writer = ChunkWriter("chatcmpl-x", 1700000000, model, include_usage)
    chunk = {
        "id": "chatcmpl-x",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": model,
        "system_fingerprint": None,
        "choices": [
            {"index": 0, "delta": {"content": text}, "logprobs": None, "finish_reason": None}
        ],
    }
    if include_usage:
        chunk["usage"] = None
    assert writer.content(text) == sse(chunk)


def test_usage_chunks_when_asked() -> None:
    writer = ChunkWriter("c", 1, "m", include_usage=True)
    assert json.loads(writer.content("x")[6:])["usage"] is None
    usage = json.loads(writer.usage({"prompt_tokens": 1, "completion_tokens": 2})[6:])
    assert usage["choices"] == [] and usage["usage"]["completion_tokens"] == 2


def test_completion_and_error_bodies() -> None:
    body = json.loads(
        completion_body(
            completion_id="c",
            created=1,
            model="m",
            content="4",
            finish_reason="stop",
            usage={"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
            extra={"qi_agent": {"query_type": "simple"}},
        )
    )
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"] == {"role": "assistant", "content": "4", "refusal": None}
    assert body["qi_agent"] == {"query_type": "simple"}
    error = json.loads(error_body("bad", "invalid_request_error", "invalid_json"))
    assert error == {
        "error": {
            "message": "bad",
            "type": "invalid_request_error",
            "param": None,
            "code": "invalid_json",
        }
    }


def test_server_timing_header() -> None:
    header = server_timing_header({"request": 1.0, "tool": 2.5, "llm": 3.0, "format": 0.25})
    assert header == "request;dur=1.000, tool;dur=2.500, llm;dur=3.000, format;dur=0.250"
