"""Hostile clients against the reference agent over real sockets: a huge prompt, slowloris,
thousands of idle sockets, exhausted file descriptors, too many MCP sessions."""

from __future__ import annotations

import contextlib
import http.client
import json
import resource
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from agent_http import request
from processes import wait_for

from qi_load.agent.launch import TargetProcess, start_target

pytestmark = pytest.mark.integration

MIB = 1 << 20


def _address(target: TargetProcess) -> tuple[str, int]:
    host, port = target.url.removeprefix("http://").rsplit(":", 1)
    return host, int(port)


def _health_ms(conn: http.client.HTTPConnection) -> float:
    started = time.perf_counter()
    conn.request("GET", "/health")
    response = conn.getresponse()
    response.read()
    assert response.status == 200
    return (time.perf_counter() - started) * 1000.0


@contextlib.contextmanager
def _sockets(target: TargetProcess, count: int) -> Iterator[list[socket.socket]]:
    opened: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.create_connection(_address(target), timeout=10)
            opened.append(sock)
        yield opened
    finally:
        for sock in opened:
            sock.close()


def _closed_by_peer(sock: socket.socket, timeout: float) -> bool:
    sock.settimeout(timeout)
    try:
        while sock.recv(65536):
            pass
    except TimeoutError:
        return False
    except OSError:
        return True
    return True


@pytest.fixture(scope="module")
def agent() -> Iterator[TargetProcess]:
    args = ["--idle-timeout", "2", "--header-timeout", "2", "--body-timeout", "3"]
    with start_target([*args, "--timing", "all=5,1,4", "--max-connections", "600"]) as target:
        yield target


@pytest.mark.exclusive
def test_health_answers_while_one_mib_prompts_are_served(agent: TargetProcess) -> None:
    # The prompts come from another process, so that this one measures only the agent.
    sender = subprocess.Popen(
        [sys.executable, "-c", _SENDER, agent.url, str(PROMPTS)],
        stdout=subprocess.PIPE,
        cwd=Path(__file__).parent,
    )
    try:
        health = http.client.HTTPConnection(*_address(agent), timeout=10)
        latencies: list[float] = []
        while sender.poll() is None:
            latencies.append(_health_ms(health))
            time.sleep(0.002)
        health.close()
        statuses = (sender.stdout.read() if sender.stdout else b"").decode().split()
    finally:
        sender.kill()
        sender.wait(10)
    assert statuses == ["200"] * PROMPTS, statuses
    assert len(latencies) > 20
    # Classifying a 1 MiB prompt costs milliseconds (the old path pattern: hours).
    assert max(latencies) < 100.0, sorted(latencies)[-5:]


PROMPTS = 20
_SENDER = """
import sys
from agent_http import chat_body, request
url, count = sys.argv[1], int(sys.argv[2])
body = chat_body(("Read the file a/b.c please, " * 40000)[: (1 << 20) - 200])
assert len(body) <= 1 << 20
print(" ".join(str(request(url, body=body, timeout=30).status) for _ in range(count)))
"""


def test_slowloris_head_is_cut_at_the_header_timeout(agent: TargetProcess) -> None:
    with _sockets(agent, 1) as (sock,):
        started = time.monotonic()
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        # One header line every 0.1 s for 8 s, stopped by the cut: a timeout that each line
        # restarted would cut only 2 s after the last one, at 10 s.
        for index in range(80):
            try:
                sock.sendall(f"x-drip-{index}: 1\r\n".encode())
            except OSError:
                break
            time.sleep(0.1)
        sock.settimeout(5)
        answer = sock.recv(4096)
        took = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408 "), answer
    assert b"request head not complete within 2 s" in answer
    assert 1.8 < took < 6.0, took  # ~2.1 s; a busy host only makes it later


def test_slow_body_is_cut_at_the_body_timeout(agent: TargetProcess) -> None:
    with _sockets(agent, 1) as (sock,):
        started = time.monotonic()
        head = b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n"
        sock.sendall(head + b'{"model": "x", ')
        assert _closed_by_peer(sock, 10)
        took = time.monotonic() - started
    assert 2.5 < took < 9.0, took  # ~3.0 s; a busy host only makes it later


def test_thousands_of_idle_sockets_are_dropped_and_health_stays_up(
    agent: TargetProcess,
) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    count = 2000
    if soft < count + 200:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, count + 500), hard))
    process = psutil.Process(agent.pid)
    baseline = process.num_fds()
    with _sockets(agent, count) as idle:
        # Beyond --max-connections 600 they are refused at once, the rest closed when idle.
        started = time.monotonic()
        assert all(_closed_by_peer(sock, 10) for sock in idle)
        assert time.monotonic() - started < 8.0
        health = http.client.HTTPConnection(*_address(agent), timeout=5)
        assert _health_ms(health) < 1000.0
        health.close()
    # Polled: the agent closes its side when it next runs, later on a busy machine.
    wait_for("the agent's descriptors back", lambda: process.num_fds() <= baseline + 5, 10)
    metrics = request(agent.url, "GET", "/metrics").body.decode()
    assert 'qi_target_connections_closed_total{reason="over_limit"}' in metrics
    assert 'qi_target_connections_closed_total{reason="idle"}' in metrics


def test_out_of_file_descriptors_it_pauses_instead_of_spinning(tmp_path: Path) -> None:
    err = tmp_path / "agent.err"
    # No room left after the agent's own descriptors: the next accept fails with EMFILE.
    with start_target(["--max-connections", "16"], stderr_path=err) as target:
        process = psutil.Process(target.pid)
        soft, hard = process.rlimit(psutil.RLIMIT_NOFILE)
        # Only the soft limit: lowering the hard one could not be undone without privileges.
        process.rlimit(psutil.RLIMIT_NOFILE, (process.num_fds() + 3, hard))
        cpu_before = sum(process.cpu_times()[:2])
        with _sockets(target, 40):
            time.sleep(4)
            cpu = sum(process.cpu_times()[:2]) - cpu_before
        process.rlimit(psutil.RLIMIT_NOFILE, (soft, hard))
        time.sleep(1.5)  # the paused accept re-arms within a second
        assert request(target.url, "GET", "/health", timeout=10).status == 200
    text = err.read_text()
    assert "cannot accept connections (Too many open files)" in text
    assert "Traceback" not in text
    assert text.count("cannot accept connections") <= 2
    assert cpu < 1.0, cpu


def _open_session(url: str) -> tuple[int, str, str]:
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "hostile", "version": "0"},
        },
    }
    answer = request(
        url,
        path="/mcp",
        body=json.dumps(body).encode(),
        headers={"Accept": "application/json, text/event-stream"},
    )
    return answer.status, answer.headers.get("mcp-session-id", ""), answer.body.decode()


def test_mcp_sessions_are_capped_with_a_clear_error() -> None:
    # (The agent's own tool client speaks the sessionless 2026 protocol: it holds none.)
    with start_target(["--mcp-max-sessions", "2"]) as target:
        first = _open_session(target.url)
        second = _open_session(target.url)
        assert first[0] == 200 and second[0] == 200, (first, second)
        status, _, text = _open_session(target.url)
        assert status == 503 and "Too many open sessions" in text, text
        ended = request(target.url, "DELETE", "/mcp", headers={"mcp-session-id": first[1]})
        assert ended.status in (200, 204), ended
        assert _open_session(target.url)[0] == 200
