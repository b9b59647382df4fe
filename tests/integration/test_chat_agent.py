"""The chat client and query checks against the real reference agent (a subprocess)."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator

import gevent
import pytest

from qi_load.agent.launch import TargetProcess, start_target
from qi_load.generate.chat import ChatClient, ChatResult
from qi_load.generate.queries import Query, QueryCatalogue
from qi_load.vocabulary import QUERY_TYPES

pytestmark = pytest.mark.integration

# simple is fast here (fault and accuracy tests); the others keep their default timings.
SIMPLE_TTFT_MS, SIMPLE_ITL_MS, SIMPLE_TOKENS = 60.0, 20.0, 10
FAST = ["--slots", "128", "--timing", f"simple={SIMPLE_TTFT_MS},{SIMPLE_ITL_MS},{SIMPLE_TOKENS}"]
CATALOGUE = QueryCatalogue.default(reference_agent=True)


@pytest.fixture(scope="module")
def agent() -> Iterator[TargetProcess]:
    with start_target(FAST) as target:
        yield target


@pytest.fixture(scope="module")
def wrong_agent() -> Iterator[TargetProcess]:
    with start_target(["--slots", "64", "--wrong-answers"]) as target:
        yield target


def ask_all(url: str, make: Callable[..., ChatClient]) -> list[tuple[Query, ChatResult, bool]]:
    """Every type's methodology prompt, streamed and not, all at once."""

    def one(query: Query, stream: bool) -> tuple[Query, ChatResult, bool]:
        result = make(url, stream=stream).complete(
            [{"role": "user", "content": query.prompt}], query_type=query.query_type
        )
        return query, result, stream

    jobs = [
        gevent.spawn(one, CATALOGUE.queries[t][0], stream)
        for t in QUERY_TYPES
        for stream in (True, False)
    ]
    gevent.joinall(jobs, raise_error=True)
    return [job.value for job in jobs]


def test_every_query_type_passes_quality(
    agent: TargetProcess, client: Callable[..., ChatClient]
) -> None:
    for query, result, stream in ask_all(agent.url, client):
        assert result.ok, (query.query_type, stream, result.error)
        assert query.check(result.content, result.output_tokens) == (True, ""), (
            query.query_type,
            stream,
            result.content[:200],
        )
        assert result.tokens_source == "usage" and result.output_tokens
        assert set(result.server_phases) == {"request", "tool", "llm", "format"}
        if stream:
            assert result.token_events == result.output_tokens
            assert result.ttft_ms is not None and result.ttft_ms < (result.e2e_ms or 0)
        if query.query_type == "multi_tool":
            assert result.server_phases["tool"] > 0


def test_a_wrong_agent_fails_quality_for_every_type(
    wrong_agent: TargetProcess, client: Callable[..., ChatClient]
) -> None:
    for query, result, stream in ask_all(wrong_agent.url, client):
        assert result.ok, result.error
        ok, reason = query.check(result.content, result.output_tokens)
        assert not ok and reason, (query.query_type, stream, result.content[:200])


@pytest.mark.parametrize(
    ("fault", "kind", "words", "stream"),
    [
        ("http_500_html", "http", "HTTP 500", True),
        ("http_500_html", "http", "HTTP 500", False),
        ("cut_mid_event", "protocol", "", True),
        ("invalid_json", "protocol", "invalid JSON", True),
        ("reset", "protocol", "", True),
        ("stall", "timeout", "timeout", True),
    ],
)
def test_each_fault_is_a_failure_of_its_kind_and_the_client_carries_on(
    agent: TargetProcess,
    client: Callable[..., ChatClient],
    fault: str,
    kind: str,
    words: str,
    stream: bool,
) -> None:
    c = client(agent.url, stream=stream, total_timeout=2.0 if fault == "stall" else 30.0)
    messages = [{"role": "user", "content": "What is 2 + 2?"}]
    failed = c.complete(messages, query_type="simple", metadata={"fault": fault})
    assert not failed.ok and failed.error_kind == kind and words in failed.error, failed.error
    if fault == "http_500_html":
        assert failed.status_code == 500
    after = c.complete(messages, query_type="simple")
    assert after.ok, after.error
    assert "2 + 2 = 4" in after.content


def test_a_complete_stream_without_done_is_a_whole_answer(
    agent: TargetProcess, client: Callable[..., ChatClient]
) -> None:
    # The agent's last chunk carries finish_reason and usage; only data: [DONE] is missing.
    r = client(agent.url).complete(
        [{"role": "user", "content": "What is 2 + 2?"}],
        query_type="simple",
        metadata={"fault": "missing_done"},
    )
    assert r.ok, r.error
    assert "2 + 2 = 4" in r.content and r.tokens_source == "usage"


@pytest.mark.exclusive
def test_ttft_and_e2e_accuracy_guard(
    agent: TargetProcess, client: Callable[..., ChatClient]
) -> None:
    """30 concurrent streams: TTFT and E2E within a few ms of the configured truth."""
    streams, rounds = 30, 4
    truth_e2e = SIMPLE_TTFT_MS + (SIMPLE_TOKENS - 1) * SIMPLE_ITL_MS
    clients = [client(agent.url) for _ in range(streams)]
    ttft_err: list[float] = []
    e2e_err: list[float] = []

    def run(c: ChatClient, measured: bool) -> None:
        gevent.sleep(random.uniform(0, 0.2))
        for _ in range(rounds if measured else 1):
            r = c.complete([{"role": "user", "content": "What is 2 + 2?"}], query_type="simple")
            assert r.ok and r.ttft_ms is not None and r.e2e_ms is not None, r.error
            if measured:
                ttft_err.append(r.ttft_ms - SIMPLE_TTFT_MS)
                e2e_err.append(r.e2e_ms - truth_e2e)

    gevent.joinall([gevent.spawn(run, c, False) for c in clients], raise_error=True)
    gevent.joinall([gevent.spawn(run, c, True) for c in clients], raise_error=True)
    ttft_err.sort()
    e2e_err.sort()
    # A measured time can never beat the server's schedule: the client sends first.
    assert ttft_err[0] > -0.5 and e2e_err[0] > -0.5, (ttft_err[:3], e2e_err[:3])
    assert ttft_err[len(ttft_err) // 2] < 5.0, ttft_err
    assert e2e_err[len(e2e_err) // 2] < 5.0, e2e_err
