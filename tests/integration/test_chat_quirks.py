"""The chat client, and a short Locust run, against a server reproducing real servers' quirks:
llama-server's chunks, held-back UTF-8 and connection close, vLLM reasoning, tool-call deltas,
events cut at awkward places, a stream without [DONE], and ``Connection: close``."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from agent_http import request
from processes import wait_for
from qi_cli import run_qi_load
from ready_server import ready_server

from qi_load.generate.chat import ChatClient

pytestmark = pytest.mark.integration

SERVER = Path(__file__).with_name("quirk_server.py")
TTFT_MS, ITL_MS, TOKENS, REASONING = 40.0, 10.0, 18, 6
HI = [{"role": "user", "content": "hi"}]
LLAMA_TEXT = "Café at 18°C 🙂 ok" * 2
# Known timing, but a shared 2-core machine wakes the server and the client late now and then.
LATE_MS = 25.0


@pytest.fixture(scope="module")
def quirks() -> Iterator[str]:
    args = ["--ttft-ms", str(TTFT_MS), "--itl-ms", str(ITL_MS), "--tokens", str(TOKENS)]
    args += ["--reasoning", str(REASONING)]
    with ready_server(SERVER, *args) as url:
        yield url


def stats(url: str) -> dict[str, int]:
    response = request(url, "GET", "/stats")
    assert response.status == 200, response
    return dict(response.json())


def near(value: float | None, truth: float, late: float = LATE_MS) -> bool:
    """Measured no earlier than the truth (minus clock noise) and at most ``late`` ms after."""
    return value is not None and truth - 0.5 <= value <= truth + late


def test_llama_server_wire_quirks(quirks: str) -> None:
    """What the quirk server sends is what llama-server sends (../shared/real-llm/probe.sh)."""
    r = request(quirks, path="/llama/v1/chat/completions", body=b"{}")
    assert r.complete and r.headers["keep-alive"] == "timeout=5, max=100"
    chunks = [json.loads(raw[6:]) for _, raw in r.events if raw != b"data: [DONE]\n\n"]
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": None}
    usage = chunks[-1]
    assert usage["choices"] == [] and usage["usage"]["completion_tokens"] == TOKENS
    assert usage["timings"]["predicted_per_token_ms"] == ITL_MS
    assert len(r.content_times()) == 12 < TOKENS  # 6 of 18 tokens ended inside a character


@pytest.mark.exclusive  # TTFT and E2E to within 25 ms of the truth
def test_llama_server_closing_every_connection_costs_no_request(
    quirks: str, client: Callable[..., ChatClient]
) -> None:
    before = stats(quirks)
    c = client(quirks + "/llama")
    results = [c.complete(HI) for _ in range(5)]  # no think time: each reuse meets a reset
    assert all(r.ok for r in results), [r.error for r in results]
    assert [r.retries for r in results] == [0, 1, 1, 1, 1]
    after = stats(quirks)
    # Each request reached the server exactly once, each on its own connection.
    assert after["requests"] - before["requests"] == 5
    assert after["connections"] - before["connections"] == 5 + 1  # + the /stats request
    for r in results:
        assert r.content == LLAMA_TEXT and r.reasoning == "" and r.tool_calls == 0
        assert r.output_tokens == TOKENS and r.tokens_source == "usage" and r.input_tokens == 9
        assert r.token_events == 12  # held-back UTF-8: fewer events than tokens
        assert near(r.ttft_ms, TTFT_MS) and r.ttfc_ms == r.ttft_ms
        # The first and last tokens are sent on time, so TPOT is the server's own, exactly.
        assert r.tpot_ms is not None and abs(r.tpot_ms - ITL_MS) < LATE_MS / (TOKENS - 1)
        assert near(r.e2e_ms, TTFT_MS + (TOKENS - 1) * ITL_MS)
        assert r.server_phases["llm"] == pytest.approx(TTFT_MS + (TOKENS - 1) * ITL_MS)


def test_llama_server_close_seen_while_idle_needs_no_retry(
    quirks: str, client: Callable[..., ChatClient]
) -> None:
    c = client(quirks + "/llama")
    results = []
    for _ in range(3):
        results.append(c.complete(HI))
        # Until the server has closed (200 ms after the stream): a fixed 0.4 s sleep is not
        # always longer than that when two other shards keep the cores busy.
        wait_for("the server's close", lambda: stats(quirks)["llama_open"] == 0, 5, every=0.01)
    assert all(r.ok for r in results) and [r.retries for r in results] == [0, 0, 0]


@pytest.mark.exclusive  # TTFT and E2E to within 25 ms of the truth
def test_vllm_reasoning_tokens_start_ttft_and_content_starts_ttfc(
    quirks: str, client: Callable[..., ChatClient]
) -> None:
    r = client(quirks + "/vllm").complete(HI)
    assert r.ok, r.error
    assert r.reasoning == "".join(f"t{i} " for i in range(REASONING))
    assert r.content == "".join(f"t{i} " for i in range(REASONING, TOKENS))
    assert r.token_events == TOKENS and r.output_tokens == TOKENS
    assert near(r.ttft_ms, TTFT_MS)
    assert near(r.ttfc_ms, TTFT_MS + REASONING * ITL_MS)
    assert r.tpot_ms is not None and abs(r.tpot_ms - ITL_MS) < LATE_MS / (TOKENS - 1)


@pytest.mark.exclusive
def test_streamed_tool_calls_are_tokens_without_content(
    quirks: str, client: Callable[..., ChatClient]
) -> None:
    r = client(quirks + "/tools").complete(HI)
    assert r.ok, r.error
    assert r.tool_calls == 2 and r.content == "" and r.ttfc_ms is None
    assert r.token_events == TOKENS and near(r.ttft_ms, TTFT_MS)
    assert near(r.e2e_ms, TTFT_MS + (TOKENS - 1) * ITL_MS)


@pytest.mark.exclusive  # TTFT and E2E to within 25 ms of the truth
def test_events_cut_at_awkward_places_are_timed_by_their_last_byte(
    quirks: str, client: Callable[..., ChatClient]
) -> None:
    r = client(quirks + "/split").complete(HI)
    assert r.ok, r.error
    assert r.content == "".join(f"é{i}" for i in range(TOKENS)) and r.token_events == TOKENS
    assert near(r.ttft_ms, TTFT_MS)  # the first pieces came 3-9 ms early


def test_stream_closed_cleanly_after_finish_reason_without_done_is_whole(
    quirks: str, client: Callable[..., ChatClient]
) -> None:
    c = client(quirks + "/nodone")
    results = [c.complete(HI) for _ in range(2)]
    for r in results:
        assert r.ok and r.error_kind == "none", r.error
        assert r.output_tokens == TOKENS and r.tokens_source == "usage" and r.retries == 0


def test_connection_close_header_is_honoured(
    quirks: str, client: Callable[..., ChatClient]
) -> None:
    before = stats(quirks)
    c = client(quirks + "/closehdr", first_byte_timeout=1.0)
    results = [c.complete(HI) for _ in range(3)]
    assert all(r.ok and r.retries == 0 for r in results), [r.error for r in results]
    # The server held each connection open (unread) after saying close: reusing one would
    # have waited for the 1 s header timeout instead of answering in ~TTFT. Anything under
    # that second is a fresh connection (a busy machine made a 40 ms TTFT 196 ms in CI).
    assert all(near(r.ttft_ms, TTFT_MS, late=1000.0 - TTFT_MS) for r in results)
    assert stats(quirks)["connections"] - before["connections"] == 3 + 1


def test_locust_run_against_a_closing_server_has_no_connection_errors(
    quirks: str, tmp_path: Path
) -> None:
    scenario = tmp_path / "quirks.yaml"
    body = {
        "name": "quirks",
        "settle_s": 0.5,
        "think_time": {"kind": "none"},
        "stages": [{"name": "hold", "users": 4, "hold_s": 4}],
    }
    scenario.write_text(json.dumps(body))
    out = tmp_path / "runs"
    args = ["run", str(scenario), "--host", quirks + "/llama", "--out", str(out), "--no-report"]
    done = run_qi_load(*args, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    run_dir = next(p for p in out.iterdir() if p.is_dir())
    with (run_dir / "requests.csv").open(newline="") as handle:
        # Requests cut off by the end of the run are cancelled rows: no answer to judge.
        rows = [r for r in csv.DictReader(handle) if r["error_kind"] != "cancelled"]
    assert len(rows) > 20
    transport = [r for r in rows if r["error_kind"] in ("connect", "protocol", "timeout", "http")]
    assert not transport, transport[:3]
    retried = sum(int(r["retries"]) for r in rows)
    assert retried > len(rows) / 2  # every reuse of a connection met the server's close
    # How close TTFT and TPOT come to the truth is measured alone, by the exclusive tests
    # above: beside two other shards a 40 ms TTFT was measured at 78 ms and 196 ms. Here,
    # what no busy machine changes: never early, the retry after the server's close cost no
    # timeout (1 s at least), and TPOT spans the tokens only, within the row's own E2E.
    ttft = sorted(float(r["ttft_ms"]) for r in rows)
    assert ttft[0] >= TTFT_MS - 0.5 and ttft[len(ttft) // 2] < 1000.0, ttft
    assert all(r["ttfc_ms"] == r["ttft_ms"] for r in rows)
    assert all(r["output_tokens"] == str(TOKENS) for r in rows)
    for r in rows:  # (+ the CSV's rounding)
        span = (float(r["e2e_ms"]) - float(r["ttft_ms"])) / (TOKENS - 1)
        assert float(r["tpot_ms"]) <= span + 0.01, r
    tpot = sorted(float(r["tpot_ms"]) for r in rows)
    assert tpot[len(tpot) // 2] > 0.5 * ITL_MS, tpot  # milliseconds, of the server's order
    assert {float(r["srv_llm_ms"]) for r in rows} == {TTFT_MS + (TOKENS - 1) * ITL_MS}
