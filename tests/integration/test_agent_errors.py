"""Bad input gets the documented status and an OpenAI-shaped error; the service keeps serving."""

from __future__ import annotations

import json
from collections.abc import Iterator

import psutil
import pytest
import requests
from agent_http import chat_body, request

from qi_load.agent.launch import TargetProcess, start_target

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def target() -> Iterator[TargetProcess]:
    with start_target(["--timing", "all=5,1,3"]) as process:
        yield process


def _assert_error(status: int, body: bytes, expected: int, code: str) -> None:
    assert status == expected, body
    error = json.loads(body)["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["code"] == code and error["message"]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"{not json", 400, "invalid_json"),
        (b"", 400, "invalid_json"),
        (b'"just a string"', 400, "invalid_type"),
        (b'{"messages": [{"role": "user", "content": "hi"}]}', 400, "missing_required_parameter"),
        (chat_body(messages=[]), 400, "invalid_value"),
        (chat_body(stream="yes"), 400, "invalid_value"),
        (chat_body(metadata={"query_type": "poetry"}), 400, "invalid_value"),
    ],
)
def test_bad_bodies(target: TargetProcess, body: bytes, status: int, code: str) -> None:
    response = request(target.url, body=body)
    _assert_error(response.status, response.body, status, code)


def test_body_over_one_mib_is_413(target: TargetProcess) -> None:
    big = chat_body("x" * (1024 * 1024 + 10))
    response = request(target.url, body=big)
    _assert_error(response.status, response.body, 413, "request_too_large")
    # Also when the client streams the body without announcing its length.
    chunked = requests.post(
        f"{target.url}/v1/chat/completions",
        data=iter([big[i : i + 65536] for i in range(0, len(big), 65536)]),
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    _assert_error(chunked.status_code, chunked.content, 413, "request_too_large")


def test_unknown_route_and_wrong_method(target: TargetProcess) -> None:
    missing = request(target.url, "GET", "/v1/nope")
    _assert_error(missing.status, missing.body, 404, "not_found")
    wrong = request(target.url, "GET", "/v1/chat/completions")
    _assert_error(wrong.status, wrong.body, 405, "method_not_allowed")
    assert wrong.headers["allow"] == "POST"
    delete = request(target.url, "DELETE", "/v1/models")
    _assert_error(delete.status, delete.body, 405, "method_not_allowed")


def test_a_thousand_malformed_requests_leave_it_healthy(target: TargetProcess) -> None:
    session = requests.Session()
    url = f"{target.url}/v1/chat/completions"
    process = psutil.Process(target.pid)
    for _ in range(50):  # let allocator pools settle before the baseline
        session.post(url, data=b"{", timeout=5)
    before = process.memory_info().rss
    bad = [b"{", b"[]", b'{"model": 1}', chat_body(messages=[{"role": "x"}]), b"\xff" * 100]
    for index in range(1000):
        reply = session.post(url, data=bad[index % len(bad)], timeout=5)
        assert reply.status_code == 400
    growth = process.memory_info().rss - before
    assert growth < 10 * 1024 * 1024, f"RSS grew {growth / 1e6:.1f} MB"
    assert session.get(f"{target.url}/health", timeout=5).status_code == 200
    good = request(target.url, body=chat_body())
    assert good.status == 200 and good.json()["choices"][0]["message"]["content"]
