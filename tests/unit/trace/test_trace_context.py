"""W3C trace context: ids, the traceparent header and baggage."""

from __future__ import annotations

import random
from urllib.parse import unquote

from qi_load.trace.context import RequestTrace, baggage_value, parse_traceparent


def test_new_traces_are_distinct_valid_and_sampled() -> None:
    rng = random.Random(7)
    traces = [RequestTrace.new(rng) for _ in range(1000)]
    assert len({t.trace_id for t in traces}) == 1000
    for trace in traces[:20]:
        version, trace_id, span_id, flags = trace.traceparent.split("-")
        assert (version, flags) == ("00", "01")
        assert len(trace_id) == 32 and len(span_id) == 16
        assert parse_traceparent(trace.traceparent) == trace


def test_zero_ids_are_never_produced() -> None:
    class Zeroes(random.Random):
        calls = 0

        def getrandbits(self, k: int) -> int:
            self.calls += 1
            return 0 if self.calls < 3 else 5

    trace = RequestTrace.new(Zeroes())
    assert int(trace.trace_id, 16) != 0 and int(trace.span_id, 16) != 0


def test_parse_rejects_malformed_headers() -> None:
    for bad in (
        "",
        "00-abc-def-01",
        "ff-" + "1" * 32 + "-" + "1" * 16 + "-01",
        "00-" + "0" * 32 + "-" + "1" * 16 + "-01",
        "00-" + "g" * 32 + "-" + "1" * 16 + "-01",
    ):
        assert parse_traceparent(bad) is None


def test_baggage_encodes_values_and_skips_empty_ones() -> None:
    value = baggage_value({"qi.run": "2026 run,1", "qi.stage": "", "qi.user": 3, "x": None})
    assert value == "qi.run=2026%20run%2C1,qi.user=3"
    assert unquote(value.split(",")[0].split("=")[1]) == "2026 run,1"


def test_baggage_stays_within_its_budget() -> None:
    value = baggage_value({f"k{i}": "v" * 100 for i in range(100)})
    assert 0 < len(value) <= 2048
    assert value.count(",") < 99


def test_headers_carry_baggage_only_when_given() -> None:
    trace = RequestTrace.new(random.Random(1))
    assert set(trace.headers()) == {"traceparent"}
    assert trace.headers({"qi.stage": "warm"})["baggage"] == "qi.stage=warm"
