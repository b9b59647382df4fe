"""The Grafana dashboard in k8s/grafana queries only metrics qi-load exports."""

from __future__ import annotations

import json
import re
from pathlib import Path

from qi_load.generate.monitoring import _Metrics
from qi_load.record.schema import RequestRecord

DASHBOARD = Path(__file__).parents[3] / "k8s" / "grafana" / "qi-load-dashboard.json"
_METRIC = re.compile(r"\bqi_[a-z_]+\b")


def _exported_sample_names() -> set[str]:
    metrics = _Metrics()
    record = RequestRecord(
        ts_sched=0.0, ts_start=0.0, worker="w", user_id=1, query_type="simple", name="x",
        ok=False, error_kind="http", ttft_ms=10.0, e2e_ms=20.0,
    )  # fmt: skip
    metrics.requests.observe([record])
    metrics.users.set(1)
    metrics.stage.labels("s").set(1)
    metrics.cpu.labels("worker", "h", "1").set(1)
    metrics.rss.labels("worker", "h", "1").set(1)
    metrics.host_cpu.labels("h").set(1)
    metrics.alert.labels("r", "warning", "k").set(1)
    metrics.samples.labels("worker").inc()
    return {sample.name for family in metrics.registry.collect() for sample in family.samples}


def _panel_queries() -> list[tuple[str, str]]:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return [
        (panel["title"], target["expr"])
        for panel in dashboard["panels"]
        for target in panel.get("targets", [])
    ]


def test_every_panel_queries_an_exported_metric() -> None:
    exported = _exported_sample_names()
    queries = _panel_queries()
    assert len(queries) >= 10
    for title, expr in queries:
        names = set(_METRIC.findall(expr))
        assert names, f"panel {title!r}: no qi_ metric in {expr!r}"
        assert names <= exported, f"panel {title!r}: {sorted(names - exported)} not exported"


def test_every_exported_family_has_a_panel() -> None:
    queried = {name for _, expr in _panel_queries() for name in _METRIC.findall(expr)}
    families = {re.sub(r"_(bucket|sum|count|total|created)$", "", n) for n in queried}
    exported = {
        re.sub(r"_(bucket|sum|count|total|created)$", "", n) for n in _exported_sample_names()
    }
    assert exported - families <= {"qi_stage"}, sorted(exported - families)
