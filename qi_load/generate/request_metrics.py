"""Per-request Prometheus series counted in plain dicts and turned into metrics at scrape time.

The master counts every request of the run; prometheus_client's ``Histogram.observe`` takes
a lock and walks the buckets in Python for each of them (~2 us), while a scrape comes every
few seconds. So requests are counted here with ``bisect`` and no lock, and the families are
built only when Prometheus asks.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Final, cast

from prometheus_client import utils as prometheus_utils
from prometheus_client.metrics_core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from qi_load.record.schema import RequestRecord

__all__ = ["RequestMetrics"]

_LABELS: Final = ("query_type", "outcome")
# The client library's own bucket formatting ("1.0", "+Inf"), which it leaves untyped.
_le_label = cast(Callable[[float], str], prometheus_utils.floatToGoString)


class _Histogram:
    __slots__ = ("buckets", "total")

    def __init__(self, size: int) -> None:
        self.buckets = [0] * size  # not cumulative; the last one is +Inf
        self.total = 0.0

    def family_entry(self, bounds: Sequence[str]) -> tuple[list[tuple[str, float]], float]:
        cumulative, running = [], 0
        for bound, count in zip(bounds, list(self.buckets), strict=True):
            running += count
            cumulative.append((bound, float(running)))
        return cumulative, self.total


class _Series:
    __slots__ = ("latency", "requests", "ttft")

    def __init__(self, size: int) -> None:
        self.requests = 0
        self.latency = _Histogram(size)
        self.ttft = _Histogram(size)


class RequestMetrics(Collector):
    """``qi_requests_total``, ``qi_request_failures_total`` and the E2E and TTFT histograms
    (seconds) per query type and outcome (``ok`` or the error kind)."""

    def __init__(self, buckets_s: Sequence[float]) -> None:
        self._bounds = tuple(sorted(buckets_s))
        self._les = [_le_label(b) for b in self._bounds] + ["+Inf"]
        self._series: dict[tuple[str, str], _Series] = {}
        self._failures: Counter[tuple[str, str]] = Counter()

    def observe(self, records: Iterable[RequestRecord]) -> None:
        bounds, size = self._bounds, len(self._les)
        series_of = self._series
        for r in records:
            key = (r.query_type, "ok" if r.ok else r.error_kind)
            series = series_of.get(key)
            if series is None:
                series = series_of[key] = _Series(size)
            series.requests += 1
            if not r.ok:
                self._failures[r.query_type, r.error_kind] += 1
            if r.e2e_ms is not None:
                seconds = r.e2e_ms / 1000.0
                series.latency.buckets[bisect_left(bounds, seconds)] += 1  # le: value <= bound
                series.latency.total += seconds
            if r.ttft_ms is not None:
                seconds = r.ttft_ms / 1000.0
                series.ttft.buckets[bisect_left(bounds, seconds)] += 1
                series.ttft.total += seconds

    def collect(self) -> Iterator[Metric]:
        # A snapshot first: scrapes may run on another thread while requests are counted.
        snapshot = list(self._series.items())
        latency = HistogramMetricFamily(
            "qi_request_duration_seconds", "End-to-end request latency", labels=_LABELS
        )
        ttft = HistogramMetricFamily("qi_ttft_seconds", "Time to first token", labels=_LABELS)
        requests = CounterMetricFamily("qi_requests", "Completed requests", labels=_LABELS)
        for key, series in snapshot:
            labels = list(key)
            requests.add_metric(labels, float(series.requests))
            buckets, total = series.latency.family_entry(self._les)
            if buckets[-1][1]:
                latency.add_metric(labels, buckets, total)
            buckets, total = series.ttft.family_entry(self._les)
            if buckets[-1][1]:
                ttft.add_metric(labels, buckets, total)
        failures = CounterMetricFamily(
            "qi_request_failures", "Failed requests", labels=["query_type", "error_kind"]
        )
        for (query_type, kind), count in list(self._failures.items()):
            failures.add_metric([query_type, kind], float(count))
        yield from (latency, ttft, requests, failures)
