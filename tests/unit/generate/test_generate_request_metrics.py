"""The scrape-time request metrics expose what prometheus_client's own types would."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from qi_load.generate.request_metrics import RequestMetrics
from qi_load.record.schema import RequestRecord

BUCKETS = (0.1, 0.5, 1.0, 2.0, 5.0)


def _record(e2e_ms: float | None, ttft_ms: float | None, kind: str, qt: str) -> RequestRecord:
    return RequestRecord(
        ts_sched=0.0,
        ts_start=0.0,
        worker="w",
        user_id=1,
        query_type=qt,
        name=qt,
        ok=kind == "none",
        error_kind=kind,  # type: ignore[arg-type]
        e2e_ms=e2e_ms,
        ttft_ms=ttft_ms,
    )


_SAMPLE_LINE = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="([^"\\]*)",?')


def _samples(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample line of the text exposition but ``_created``, by name and labels.

    Read with two patterns: prometheus_client's own parser handles escapes these plain
    label values never need, and took most of this test's time (~10x slower)."""
    found = {}
    for line in generate_latest(registry).decode().splitlines():
        if not line or line.startswith("#"):
            continue
        match = _SAMPLE_LINE.fullmatch(line)
        assert match is not None, line
        name, labels, value = match.groups()
        assert not _LABEL.sub("", labels or ""), line  # every label a plain name="value"
        if not name.endswith("_created"):
            found[(name, tuple(sorted(_LABEL.findall(labels or ""))))] = float(value)
    return found


# Bucket bounds themselves are drawn often: `le` means "at most".
_ms = st.one_of(st.sampled_from([100.0, 500.0, 1000.0, 5000.0, 0.0]), st.floats(0, 9000))
_records = st.lists(
    st.builds(
        _record,
        st.one_of(st.none(), _ms),
        st.one_of(st.none(), _ms),
        st.sampled_from(["none", "none", "timeout", "http"]),
        st.sampled_from(["simple", "reasoning"]),
    ),
    max_size=40,
)


@settings(max_examples=50)
@given(_records)
def test_same_exposition_as_the_client_library(records: list[RequestRecord]) -> None:
    ours = CollectorRegistry()
    metrics = RequestMetrics(BUCKETS)
    ours.register(metrics)
    metrics.observe(records)

    theirs = CollectorRegistry()
    labels = ["query_type", "outcome"]
    latency = Histogram("qi_request_duration_seconds", "", labels, buckets=BUCKETS, registry=theirs)
    ttft = Histogram("qi_ttft_seconds", "", labels, buckets=BUCKETS, registry=theirs)
    requests = Counter("qi_requests", "", labels, registry=theirs)
    failures = Counter("qi_request_failures", "", ["query_type", "error_kind"], registry=theirs)
    for r in records:
        key = (r.query_type, "ok" if r.ok else r.error_kind)
        requests.labels(*key).inc()
        if not r.ok:
            failures.labels(r.query_type, r.error_kind).inc()
        if r.e2e_ms is not None:
            latency.labels(*key).observe(r.e2e_ms / 1000.0)
        if r.ttft_ms is not None:
            ttft.labels(*key).observe(r.ttft_ms / 1000.0)

    expected = _samples(theirs)
    got = _samples(ours)
    # The library also lists a labelled histogram that never observed anything (all zeros).
    expected = {k: v for k, v in expected.items() if k in got or v != 0.0}
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        assert abs(got[key] - value) <= 1e-9 * max(1.0, abs(value)), key
