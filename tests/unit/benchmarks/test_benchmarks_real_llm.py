"""The pure parts of benchmarks/real_llm.py: joining rows to logged requests, TPOT, tokens/s."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest
from benchmark_script import load_benchmark


@pytest.fixture(scope="module")
def real_llm() -> ModuleType:
    return load_benchmark("real_llm")


def _server(m: ModuleType, end: float, n: int, eval_ms: float) -> object:
    return m.ServerRequest(first=end - eval_ms / 1000, end=end, gen_n=n, eval_ms=eval_ms)


def test_server_tpot_counts_the_n_minus_1_steps_after_the_first_token(real_llm: ModuleType):
    s = real_llm.ServerRequest(first=7.45, end=10.0, gen_n=256, eval_ms=2550.0)
    assert s.tpot_ms == pytest.approx(10.0)


def test_join_pairs_same_token_count_nearest_first_token_and_end(real_llm: ModuleType):
    m = real_llm
    # Two requests in flight together, logged in the opposite order from the rows.
    servers = [_server(m, 13.0, 256, 2550.0), _server(m, 12.0, 256, 2000.0)]
    clients = [
        m.ClientRequest(row=2, first=10.002, end=12.003, tokens=256, tpot_ms=7.85),
        m.ClientRequest(row=3, first=10.452, end=13.002, tokens=256, tpot_ms=10.01),
    ]
    pairs = m.join(clients, servers)
    assert [(p.client.row, p.server.end) for p in pairs] == [(2, 12.0), (3, 13.0)]
    assert [round(p.diff_ms, 4) for p in pairs] == [round(7.85 - 2000 / 255, 4), 0.01]
    assert not any(p.ambiguous for p in pairs)


def test_join_never_pairs_other_token_counts_or_far_requests(real_llm: ModuleType):
    m = real_llm
    clients = [
        m.ClientRequest(row=2, first=7.45, end=10.0, tokens=100, tpot_ms=10.0),
        m.ClientRequest(row=3, first=30.0, end=32.0, tokens=256, tpot_ms=10.0),
    ]
    assert m.join(clients, [_server(m, 10.0, 256, 2550.0)]) == []


def test_join_flags_a_choice_between_near_identical_candidates(real_llm: ModuleType):
    m = real_llm
    servers = [_server(m, 13.0, 256, 2550.0), _server(m, 13.001, 256, 2550.0)]
    clients = [
        m.ClientRequest(row=2, first=10.451, end=13.0005, tokens=256, tpot_ms=10.0),
        m.ClientRequest(row=3, first=10.452, end=13.0015, tokens=256, tpot_ms=10.0),
    ]
    pairs = m.join(clients, servers)
    assert len(pairs) == 2
    assert all(p.ambiguous for p in pairs)


def test_compare_tpot_counts_pairs_within_the_tolerance(real_llm: ModuleType):
    m = real_llm
    # 10 ms per sampled token; the chunks were written 0.3 ms per token further apart.
    server = m.ServerRequest(first=9.9, end=10.0, gen_n=11, eval_ms=100.0, sent_tpot_ms=10.3)
    pairs = [
        m.Pair(m.ClientRequest(i, 7.9, 10.0, 11, 10.0 + d), server, 1.0, ambiguous=i == 3)
        for i, d in enumerate((0.0, 0.05, -0.1, 0.3))
    ]
    result = m.compare_tpot(pairs, 0.1)
    assert (result["pairs"], result["ambiguous"]) == (4, 1)
    assert (result["vs_own"]["within"], result["vs_own"]["within_fraction"]) == (3, 0.75)
    assert result["vs_own_unambiguous"]["within_fraction"] == 1.0
    assert result["vs_sent"]["within"] == 1  # only the row 0.3 ms above the own TPOT
    assert result["sent_minus_own_ms"]["p50"] == pytest.approx(0.3)
    assert [w["row"] for w in result["worst"]] == [3]


def test_tokens_per_stage_counts_requests_ended_between_the_same_samples(real_llm: ModuleType):
    m = real_llm
    stage = {
        "name": "light",
        "users": 5,
        "window_start": 100.4,
        "window_end": 109.7,
        "overall": {"output_tokens_per_s": 50.0},
    }
    metrics = [(98.0, 0.0), (100.0, 256.0), (102.0, 512.0), (110.0, 1280.0), (112.0, 1536.0)]
    ends = [(99.9, 256), (101.0, 256), (105.0, 256), (109.99, 256), (111.0, 256)]
    [row] = m.tokens_per_stage([stage], metrics, ends)
    assert (row["interval_s"], row["server_tokens"], row["qi_load_tokens"]) == (10.0, 1024, 768)
    assert row["diff_pct"] == -25.0
    assert row["report_tokens_per_s"] == 50.0


def _chunk(content: str | None, **extra: object) -> str:
    import json

    delta = {} if content is None else {"content": content}
    return "data: " + json.dumps({"id": "chatcmpl-a", "choices": [{"delta": delta}], **extra})


def test_read_streams_takes_first_and_last_content_writes_and_the_usage(
    real_llm: ModuleType, tmp_path: Path
):
    usage = {"completion_tokens": 3, "prompt_tokens": 5}
    timings = {"prompt_ms": 30.5, "predicted_n": 3, "predicted_ms": 20.0}
    entry = "0.01.{ms:03d}.000 D srv    operator(): http: streamed chunk: {body}\n\n"
    log = tmp_path / "server.log"
    log.write_text(
        "0.01.000.000 I slot launch_slot_: id  0 | task 0 | processing task\n"
        + entry.format(
            ms=100,
            body='data: {"id":"chatcmpl-a","choices":[{"delta":'
            '{"role":"assistant","content":null}}]}\n\n' + _chunk("He"),
        )
        + entry.format(ms=110, body=_chunk(""))  # a held-back piece: no content
        + entry.format(ms=120, body=_chunk("llo\nworld"))
        + entry.format(
            ms=121,
            body=_chunk(None, usage=usage, timings=timings).replace(
                '"choices": [{"delta": {}}]', '"choices": []'
            ),
        )
        + entry.format(ms=122, body="data: [DONE]"),
        encoding="utf-8",
    )
    [s] = real_llm.read_streams(log, 1000.0)
    assert (s.first, s.end, s.gen_n) == (pytest.approx(1001.1), pytest.approx(1001.121), 3)
    assert s.sent_tpot_ms == pytest.approx(10.0)  # 20 ms between first and last, 2 steps
    assert s.tpot_ms == pytest.approx(10.0)
    assert s.llm_ms == pytest.approx(50.5)


def test_join_takes_only_the_request_whose_llm_time_the_client_recorded(real_llm: ModuleType):
    m = real_llm
    # Two requests logged at the same instants: only llama.cpp's own timings tell them apart.
    servers = [
        m.ServerRequest(first=10.0, end=12.0, gen_n=256, eval_ms=2000.0, llm_ms=2050.12),
        m.ServerRequest(first=10.0, end=12.0, gen_n=256, eval_ms=1999.0, llm_ms=2049.87),
    ]
    client = m.ClientRequest(2, 10.001, 12.001, 256, 7.84, srv_llm_ms=2049.871)
    [pair] = m.join([client], servers)
    assert pair.server is servers[1]
    assert not pair.ambiguous
