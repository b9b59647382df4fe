"""Fault knobs do what they say, at the wire, and the service goes on serving."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator

import psutil
import pytest
from agent_http import Response, chat_body, request
from processes import wait_for

from qi_load.agent.launch import TargetProcess, start_target
from qi_load.units import MB

pytestmark = pytest.mark.integration

STREAM = {"stream": True}


@pytest.fixture(scope="module")
def target() -> Iterator[TargetProcess]:
    with start_target(["--timing", "all=20,5,10"]) as process:
        yield process


def _fault(
    target: TargetProcess, kind: str, *, stream: bool = True, timeout: float = 10
) -> Response:
    options = STREAM if stream else {}
    return request(target.url, body=chat_body(metadata={"fault": kind}, **options), timeout=timeout)


def _metrics(target: TargetProcess) -> str:
    return request(target.url, "GET", "/metrics").body.decode()


def _contents(response: Response) -> int:
    return len(response.content_times())


def test_http_500_html(target: TargetProcess) -> None:
    response = _fault(target, "http_500_html")
    assert response.status == 500
    assert response.headers["content-type"].startswith("text/html")
    assert b"<html>" in response.body


def test_reset_mid_stream(target: TargetProcess) -> None:
    response = _fault(target, "reset")
    assert response.status == 200 and not response.complete
    assert "ConnectionResetError" in response.error
    assert 0 < _contents(response) < 10


def test_cut_mid_event(target: TargetProcess) -> None:
    response = _fault(target, "cut_mid_event")
    assert response.status == 200 and not response.complete
    assert response.error == "closed mid-body"
    assert _contents(response) == 5
    assert not response.body.endswith(b"\n\n"), "the last event is cut in half"


def test_invalid_json_event_then_normal_end(target: TargetProcess) -> None:
    response = _fault(target, "invalid_json")
    assert response.complete and response.body.endswith(b"data: [DONE]\n\n")
    broken = []
    for _, raw in response.events:
        if raw.startswith(b"data: {"):
            try:
                json.loads(raw[6:])
            except ValueError:
                broken.append(raw)
    assert len(broken) == 1
    assert _contents(response) == 10


def test_missing_done(target: TargetProcess) -> None:
    response = _fault(target, "missing_done")
    assert response.complete and _contents(response) == 10
    assert b"[DONE]" not in response.body


def test_stall_holds_until_the_client_gives_up_and_frees_the_slot(target: TargetProcess) -> None:
    started = time.perf_counter()
    response = _fault(target, "stall", timeout=1.0)
    assert "timed out" in response.error
    assert time.perf_counter() - started >= 1.0
    assert _contents(response) == 5
    # The agent frees the slot once it sees the client gone: polled, since a fixed 0.3 s is
    # not always enough for the agent to run when two other shards keep the cores busy.
    wait_for("a free slot", lambda: "qi_target_slots_busy 0.0" in _metrics(target), 10)
    metrics = _metrics(target)
    assert re.search(r'qi_target_faults_injected_total\{kind="stall"\} 1\.0', metrics)


@pytest.mark.parametrize("kind", ["reset", "cut_mid_event", "invalid_json", "stall"])
def test_non_streaming_faults(target: TargetProcess, kind: str) -> None:
    # Only the stall needs the client to give up; the others answer in ~70 ms, late on a
    # busy host, and must not be cut by the stall's 1 s.
    response = _fault(target, kind, stream=False, timeout=1.0 if kind == "stall" else 10)
    if kind == "invalid_json":
        assert response.status == 200
        with pytest.raises(ValueError):
            response.json()
    elif kind == "cut_mid_event":
        assert response.status == 200 and response.error == "closed mid-body"
    else:
        assert response.status == 0 and response.error
    assert request(target.url, "GET", "/health").status == 200


def test_rates_spike_slowdown_and_wrong_answers() -> None:
    args = ["--timing", "all=50,5,4", "--error-rate", "1", "--seed", "3"]
    with start_target(args) as failing:
        response = request(failing.url, body=chat_body())
        assert response.status == 500 and response.json()["error"]["code"] == "injected_fault"
    with start_target(["--timing", "all=50,5,4", "--drop-rate", "1"]) as dropping:
        response = request(dropping.url, body=chat_body(**STREAM))
        assert "ConnectionResetError" in response.error
    args = ["--timing", "all=50,5,4", "--spike-rate", "1", "--spike-ms", "300", "--slowdown", "2"]
    with start_target([*args, "--wrong-answers"]) as slow:
        response = request(slow.url, body=chat_body(**STREAM))
        ttft_ms = (response.content_times()[0] - response.t_send) * 1000.0
        # (50 ms + 300 ms spike) * slowdown 2. Never early; a busy machine makes it late (the
        # 40 ms TTFT of another test was measured at 196 ms beside two other shards), so the
        # upper bound only tells it from a knob applied twice (1300 ms or more).
        assert 695 < ttft_ms < 1250, ttft_ms
        text = "".join(
            json.loads(raw[6:])["choices"][0]["delta"].get("content", "")
            for _, raw in response.events
            if raw.startswith(b'data: {"id"') and b'"choices":[{' in raw
        )
        assert text.startswith("2 + 2 = 5")


def test_leak_grows_resident_memory_at_the_set_rate() -> None:
    with start_target(["--leak-mb-per-min", "600"]) as leaking:  # 10 MB/s
        process = psutil.Process(leaking.pid)
        started, before = time.monotonic(), process.memory_info().rss
        time.sleep(3.2)
        grown = (process.memory_info().rss - before) / MB
        took = time.monotonic() - started
        # 10 MB per second of the window this run really had (a busy machine stretches the
        # sleep), give or take the leak's one-second steps and a late step.
        assert 10 * (took - 1.5) <= grown <= 10 * (took + 1.2), (grown, took)
        metrics = request(leaking.url, "GET", "/metrics").body.decode()
        leaked = re.search(r"^qi_target_leaked_bytes (\S+)$", metrics, re.M)
        assert leaked is not None and float(leaked.group(1)) >= 20 * MB
