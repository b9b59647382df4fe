"""Chat request validation: what is accepted, and the 400 reason for what is not."""

from __future__ import annotations

import json

import pytest

from qi_load.agent.request import BadRequest, parse_chat_request


def _body(**fields: object) -> bytes:
    base: dict[str, object] = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    base.update(fields)
    return json.dumps(base).encode()


def test_accepts_the_openai_fields() -> None:
    request = parse_chat_request(
        _body(
            stream=True,
            stream_options={"include_usage": True},
            max_tokens=5,
            temperature=0,
            metadata={"query_type": "reasoning", "fault": "reset", "other": "x"},
            messages=[
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": [{"type": "text", "text": "first"}]},
                {"role": "assistant", "content": None},
                {"role": "user", "content": [{"type": "text", "text": "last"}]},
            ],
            unknown_field=1,
        )
    )
    assert request.include_usage and request.token_limit == 5
    assert request.metadata.query_type == "reasoning" and request.metadata.fault == "reset"
    assert request.last_user_text == "last"


@pytest.mark.parametrize(
    ("body", "code", "param"),
    [
        (b"{", "invalid_json", None),
        (b"\xff\xfe", "invalid_json", None),
        (b"[1]", "invalid_type", None),
        (json.dumps({"messages": []}).encode(), "missing_required_parameter", "model"),
        (_body(messages=[]), "invalid_value", "messages"),
        (_body(messages="hi"), "invalid_value", "messages"),
        (_body(messages=[{"role": "robot", "content": "x"}]), "invalid_value", "messages.0.role"),
        (_body(stream="yes"), "invalid_value", "stream"),
        (_body(max_tokens=0), "invalid_value", "max_tokens"),
        (_body(max_tokens=1.5), "invalid_value", "max_tokens"),
        (_body(temperature=3), "invalid_value", "temperature"),
        (_body(metadata={"query_type": "poetry"}), "invalid_value", "metadata.query_type"),
        (_body(metadata={"fault": "explode"}), "invalid_value", "metadata.fault"),
    ],
)
def test_refuses_bad_bodies(body: bytes, code: str, param: str | None) -> None:
    with pytest.raises(BadRequest) as caught:
        parse_chat_request(body)
    assert caught.value.code == code
    assert caught.value.param == param or (param and str(caught.value.param).startswith(param))
