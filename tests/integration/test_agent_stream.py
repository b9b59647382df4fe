"""The reference agent speaks OpenAI's wire format, byte for byte, in both modes."""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator

import pytest
from agent_http import chat_body, request

from qi_load.agent.launch import TargetProcess, start_target

pytestmark = pytest.mark.integration

_SSE_EVENT = re.compile(rb"data: (\{.*\}|\[DONE\])\n\n", re.S)


@pytest.fixture(scope="module")
def target() -> Iterator[TargetProcess]:
    with start_target(["--timing", "all=20,2,12"]) as process:
        yield process


def _split_events(body: bytes) -> list[bytes]:
    events = body.split(b"\n\n")
    assert events[-1] == b"", "the stream must end with a blank line"
    return [event + b"\n\n" for event in events[:-1]]


@pytest.mark.parametrize("include_usage", [True, False])
def test_stream_is_byte_exact_openai_sse(target: TargetProcess, include_usage: bool) -> None:
    options = {"stream_options": {"include_usage": True}} if include_usage else {}
    response = request(target.url, body=chat_body(stream=True, **options))
    assert response.status == 200 and response.complete, response.error
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert response.headers["transfer-encoding"] == "chunked"
    assert response.headers["x-qi-load-agent"] == "reference"  # identifies itself
    events = _split_events(response.body)
    for event in events:
        assert _SSE_EVENT.fullmatch(event), event
        assert event.count(b"\n") == 2, "one data line per event"
    assert events[-1] == b"data: [DONE]\n\n"
    chunks = [json.loads(event[6:]) for event in events[:-1]]
    ids = {(c["id"], c["object"], c["created"], c["model"]) for c in chunks}
    assert len(ids) == 1
    completion_id, kind, created, model = ids.pop()
    assert completion_id.startswith("chatcmpl-") and kind == "chat.completion.chunk"
    assert isinstance(created, int) and model == "qi"
    # Compact JSON, exactly as json.dumps(..., separators=(",", ":")) writes it.
    for event, chunk in zip(events, chunks, strict=False):
        compact = json.dumps(chunk, separators=(",", ":"), ensure_ascii=False)
        assert event == b"data: " + compact.encode() + b"\n\n"

    role, *rest = chunks
    assert role["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert role["choices"][0]["finish_reason"] is None
    usage_chunk = rest.pop() if include_usage else None
    finish = rest.pop()
    assert finish["choices"][0]["delta"] == {}
    assert finish["choices"][0]["finish_reason"] == "stop"
    assert len(rest) == 12, "one content chunk per output token"
    for chunk in rest:
        (choice,) = chunk["choices"]
        assert list(choice["delta"]) == ["content"] and choice["finish_reason"] is None
    text = "".join(chunk["choices"][0]["delta"]["content"] for chunk in rest)
    assert text.startswith("2 + 2 = 4")

    last = usage_chunk if include_usage else finish
    assert last is not None
    assert set(last["server_timing"]) == {"request", "tool", "llm", "format"}
    assert all(isinstance(v, float) and v >= 0 for v in last["server_timing"].values())
    assert last["qi_agent"] == {"query_type": "simple", "tools": ["calculate"]}
    if include_usage:
        assert usage_chunk is not None and usage_chunk["choices"] == []
        assert usage_chunk["usage"] == {
            "prompt_tokens": 5,
            "completion_tokens": 12,
            "total_tokens": 17,
        }
        assert all(chunk["usage"] is None for chunk in chunks[:-1])
        assert "server_timing" not in finish
    else:
        assert all("usage" not in chunk for chunk in chunks)


def test_non_streaming_completion_has_usage_and_server_timing(target: TargetProcess) -> None:
    response = request(target.url, body=chat_body("What is 12 * 12?"))
    assert response.status == 200, response.body
    body = response.json()
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"]["role"] == "assistant"
    assert body["choices"][0]["message"]["content"].startswith("12 * 12 = 144")
    assert body["choices"][0]["finish_reason"] == "stop"
    assert body["usage"]["completion_tokens"] == 12
    timing = response.headers["server-timing"]
    assert re.fullmatch(
        r"request;dur=[\d.]+, tool;dur=[\d.]+, llm;dur=[\d.]+, format;dur=[\d.]+", timing
    )
    assert response.headers["x-qi-query-type"] == "simple"
    assert response.headers["x-qi-load-agent"] == "reference"


def test_max_tokens_cuts_with_finish_reason_length(target: TargetProcess) -> None:
    response = request(target.url, body=chat_body(stream=True, max_tokens=3))
    chunks = [json.loads(e[6:]) for e in _split_events(response.body)[:-1]]
    contents = [c for c in chunks if c["choices"] and c["choices"][0]["delta"].get("content")]
    assert len(contents) == 3
    assert chunks[-1]["choices"][0]["finish_reason"] == "length"


@pytest.mark.parametrize(
    ("text", "query_type", "check"),
    [
        ("Write a Python function to sort a list", "code_generation", "code"),
        ("Read and analyze the package.json file", "file_operations", "package"),
        ("Check the weather in Paris and create a calendar event", "multi_tool", "tools"),
        ("Explain the trade-offs of different sorting algorithms", "reasoning", "sections"),
    ],
)
def test_each_query_type_does_its_work(
    target: TargetProcess, text: str, query_type: str, check: str
) -> None:
    # 12 tokens only: long answers are merged into 12 chunks, never cut.
    response = request(target.url, body=chat_body(text, metadata={"query_type": query_type}))
    content = response.json()["choices"][0]["message"]["content"]
    assert response.json()["qi_agent"]["query_type"] == query_type
    if check == "code":
        block = re.search(r"```python\n(.*?)```", content, re.S)
        assert block is not None
        assert any(isinstance(n, ast.FunctionDef) for n in ast.parse(block.group(1)).body)
    elif check == "package":
        assert "qi-sample-app" in content and "1.4.2" in content
        assert "7 dependencies" in content
    elif check == "tools":
        assert re.search(r"Paris: -?\d+°C", content)
        assert re.search(r"evt-[0-9a-f]{8}", content)
    else:
        assert len(re.findall(r"^## ", content, re.M)) >= 3


def test_openai_client_consumes_both_modes(target: TargetProcess) -> None:
    from openai import OpenAI

    client = OpenAI(base_url=f"{target.url}/v1", api_key="unused", max_retries=0, timeout=10)
    try:
        models = client.models.list()
        assert [m.id for m in models.data] == ["qi-reference-agent"]
        completion = client.chat.completions.create(
            model="qi", messages=[{"role": "user", "content": "What is 2 + 2?"}]
        )
        assert completion.choices[0].message.content is not None
        assert completion.choices[0].message.content.startswith("2 + 2 = 4")
        assert completion.usage is not None and completion.usage.completion_tokens == 12
        stream = client.chat.completions.create(
            model="qi",
            messages=[{"role": "user", "content": "What is 3 + 4?"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        pieces, usage = [], None
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                pieces.append(chunk.choices[0].delta.content)
            if chunk.usage is not None:
                usage = chunk.usage
        assert "".join(pieces).startswith("3 + 4 = 7")
        assert len(pieces) == 12
        assert usage is not None and usage.completion_tokens == 12
    finally:
        client.close()


def test_service_endpoints(target: TargetProcess) -> None:
    # Its own streamed request (the TTFT histogram's): the shards may run this test
    # without the module's others.
    assert request(target.url, body=chat_body(stream=True)).status == 200
    assert request(target.url, "GET", "/health").json() == {"status": "ok"}
    assert request(target.url, "GET", "/ready").json() == {"status": "ready"}
    models = request(target.url, "GET", "/v1/models").json()
    assert models["object"] == "list" and models["data"][0]["object"] == "model"
    metrics = request(target.url, "GET", "/metrics")
    assert metrics.status == 200
    text = metrics.body.decode()
    assert re.search(r'qi_target_requests_total\{query_type="simple",status="200"\} [1-9]', text)
    for name in (
        "qi_target_request_duration_seconds_bucket",
        "qi_target_time_to_first_token_seconds_bucket",
        "qi_target_in_flight_requests",
        "qi_target_queue_depth",
        "qi_target_slots_busy",
    ):
        assert name in text
