"""The qi-load tabs in Locust's web UI, their JSON endpoint, a plain page and the report link.

Only the master or local runner has a web UI. ``install`` (called by the plugin at
``events.init``) keeps the current test's records in ``LiveStats`` (reset at each
``test_start``) and adds, under Locust's ``--web-base-path``:

- ``GET /qi-load/stats``: the ``LiveView`` JSON (stage, exact percentiles per query type,
  errors by kind, run directory, report link);
- two tabs through Locust's ``extended_tabs``/``extended_tables`` template arguments, whose
  rows ride on Locust's own ``/stats/requests`` poll as ``extended_stats``: ``qi-load``
  (latency per query type) and ``qi-load run`` (stage, time left, run directory, report);
- ``GET /qi-load``: the same content as a plain page that refreshes itself, with a
  clickable report link (the React tables show text only);
- ``GET /qi-load/report``: ``report.html`` of the current run directory, once written.
"""

from __future__ import annotations

import html
import json
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final, TypedDict, cast

import gevent
import gevent.lock
from flask import Blueprint, Response, request, send_file
from locust.runners import STATE_RUNNING, STATE_SPAWNING
from locust.web import WebUI

from qi_load.generate.live_stats import (
    ALL_TYPES,
    METRICS,
    LiveStats,
    StageInfo,
    TypeSummary,
    stage_info,
    summarize,
)
from qi_load.record.rundir import REPORT_HTML
from qi_load.record.wall_clock import wall_now

if TYPE_CHECKING:
    from qi_load.generate.run_state import QiState

__all__ = [
    "PAGE_PATH",
    "REPORT_PATH",
    "RUN_TAB_KEY",
    "STATS_PATH",
    "TAB_KEY",
    "LiveView",
    "QiTab",
    "install",
]

PAGE_PATH: Final = "/qi-load"
STATS_PATH: Final = "/qi-load/stats"
REPORT_PATH: Final = "/qi-load/report"
TAB_KEY: Final = "qi-load"
RUN_TAB_KEY: Final = "qi-load-run"
MIN_RECOMPUTE_S: Final = 1.0
"""Percentiles are recomputed at most this often (and only after new records): with millions
of values a summary costs tens of ms, and the UI polls every 2 s."""
_LABELS: Final = {
    "ttft_ms": "TTFT", "ttfc_ms": "TTFC", "itl_ms": "ITL", "tpot_ms": "TPOT", "e2e_ms": "E2E",
}  # fmt: skip
_QUANTILES: Final = ("p50", "p95", "p99")
_ViewDecorator = Callable[[Callable[[], Response]], Callable[[], Response]]


class LiveView(TypedDict):
    """What ``/qi-load/stats`` returns; times in unix seconds, durations in seconds,
    latencies in milliseconds."""

    state: str
    """Locust's runner state (ready, spawning, running, stopped...)."""
    users: int
    """Users running now."""
    planned_users: int
    """Users the scenario's plan asks for now (Locust's target count without a scenario)."""
    test_start: float | None
    """When the current (or last) test started; None before the first."""
    stage: StageInfo | None
    """The stage in force while a scenario's test runs."""
    run_left_s: float | None
    """Seconds until the plan (or Locust's run time) ends; None when unknown or stopped."""
    run_dir: str | None
    report_url: str | None
    """Link to the current run directory's report.html once it exists."""
    errors_by_kind: dict[str, int]
    types: list[TypeSummary]
    """One entry per query type, then ``all``."""


class QiTab:
    """The live view of one Locust process (master or local runner)."""

    def __init__(self, qi: QiState, base_path: str = "") -> None:
        self.qi = qi
        self.base_path = base_path
        self.stats = LiveStats()
        self.test_start: float | None = None
        self._lock = gevent.lock.Semaphore()
        self._types: list[TypeSummary] = summarize(self.stats.snapshot())
        self._types_version = self.stats.version
        self._types_at = 0.0

    def on_test_start(self, **_kwargs: Any) -> None:
        with self._lock:
            self.stats.reset()
            self.test_start = wall_now()
            # Never show the previous test's numbers, however recent their summary.
            self._types = summarize(self.stats.snapshot())
            self._types_version = self.stats.version

    def types(self) -> list[TypeSummary]:
        """Per-type summaries, recomputed when records arrived (at most every
        ``MIN_RECOMPUTE_S``) in a native thread, so the users' greenlets keep running."""
        with self._lock:
            stale = self._types_version != self.stats.version
            if stale and time.monotonic() - self._types_at >= MIN_RECOMPUTE_S:
                version, snapshot = self.stats.version, self.stats.snapshot()
                self._types = gevent.get_hub().threadpool.apply(summarize, (snapshot,))
                self._types_version, self._types_at = version, time.monotonic()
            return self._types

    def view(self) -> LiveView:
        qi = self.qi
        runner = qi.environment.runner
        state = str(runner.state) if runner is not None else ""
        active = state in (STATE_SPAWNING, STATE_RUNNING)
        now = wall_now()
        stage = (
            stage_info(qi.plan, qi.scenario_plan(), now - qi.t0)
            if active and qi.t0 is not None
            else None
        )
        run_left: float | None = None
        if stage is not None:
            run_left = stage["plan_left_s"]
        elif active and not qi.plan and self.test_start is not None:
            options = qi.environment.parsed_options
            run_time = getattr(options, "run_time", None)
            if run_time:
                run_left = max(0.0, float(run_time) - (now - self.test_start))
        types = self.types()
        run_dir = qi.run_dir.path.resolve() if qi.run_dir is not None else None
        report = run_dir / REPORT_HTML if run_dir is not None else None
        return LiveView(
            state=state,
            users=runner.user_count if runner is not None else 0,
            planned_users=stage["users"]
            if stage is not None
            else (runner.target_user_count if runner is not None else 0),
            test_start=self.test_start,
            stage=stage,
            run_left_s=run_left,
            run_dir=str(run_dir) if run_dir is not None else None,
            report_url=self.base_path + REPORT_PATH
            if report is not None and report.is_file()
            else None,
            errors_by_kind=types[-1]["errors"],
            types=types,
        )


def _ms(value: float | None) -> float | str:
    return "" if value is None else round(value, 1)


def _kinds(errors: dict[str, int]) -> str:
    return ", ".join(f"{kind} {count}" for kind, count in errors.items())


def _quality(summary: TypeSummary) -> str:
    """passed/checked and the rate, as the report's quality rate (blank: nothing checked)."""
    checked, passed = summary["quality_checked"], summary["quality_passed"]
    return f"{passed}/{checked} ({passed / checked:.0%})" if checked else ""


def _seconds(value: float | None) -> str:
    return "" if value is None else f"{value:.0f} s"


def _latency_columns() -> list[dict[str, str]]:
    columns = [
        {"key": "name", "title": "Query type"},
        {"key": "requests", "title": "# Requests"},
        {"key": "ok", "title": "# OK"},
        {"key": "errors", "title": "Errors by kind"},
        {"key": "retries", "title": "# Retries"},
        {"key": "quality", "title": "Quality (passed/checked)"},
    ]
    for metric in METRICS:
        for q in _QUANTILES:
            columns.append({"key": f"{metric}_{q}", "title": f"{_LABELS[metric]} {q} (ms)"})
    return columns


def _latency_rows(view: LiveView) -> list[dict[str, Any]]:
    rows = []
    for summary in view["types"]:
        row: dict[str, Any] = {
            "name": "All" if summary["query_type"] == ALL_TYPES else summary["query_type"],
            "requests": summary["requests"],
            "ok": summary["ok"],
            "errors": _kinds(summary["errors"]),
            "retries": summary["retries"],
            "quality": _quality(summary),
        }
        for metric in METRICS:
            stats = summary["metrics"][metric]
            values = {"p50": stats["p50"], "p95": stats["p95"], "p99": stats["p99"]}
            for q in _QUANTILES:
                row[f"{metric}_{q}"] = _ms(values[q])
        rows.append(row)
    return rows


def _run_rows(view: LiveView) -> list[dict[str, str]]:
    stage = view["stage"]
    if stage is None:
        where = "-"
    elif stage["index"] == 0:
        where = "warm-up"
    else:
        where = f"{stage['name']} ({stage['index']} of {stage['of']})"
    left = _seconds(stage["stage_left_s"]) if stage else ""
    n = {m: view["types"][-1]["metrics"][m]["n"] for m in METRICS}
    return [
        {"item": "State", "value": view["state"]},
        {"item": "Stage", "value": where},
        {
            "item": "Users (running / planned)",
            "value": f"{view['users']} / {view['planned_users']}",
        },
        {"item": "Stage time left", "value": left},
        {"item": "Run time left", "value": _seconds(view["run_left_s"])},
        {"item": "Errors by kind", "value": _kinds(view["errors_by_kind"]) or "none"},
        {"item": "Values (n) per metric", "value": ", ".join(f"{_LABELS[m]} {n[m]}" for m in n)},
        {"item": "Run directory", "value": view["run_dir"] or ""},
        {"item": "Report", "value": view["report_url"] or "not written yet"},
    ]


def _page(view: LiveView) -> str:
    """The plain page: both tables, and the report as a real link."""
    columns = _latency_columns()
    head = "".join(f"<th>{html.escape(c['title'])}</th>" for c in columns)
    latency = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(r[c['key']]))}</td>" for c in columns) + "</tr>"
        for r in _latency_rows(view)
    )
    cells = {r["item"]: html.escape(r["value"]) for r in _run_rows(view)}
    if view["report_url"]:
        cells["Report"] = f'<a href="{html.escape(view["report_url"])}">{cells["Report"]}</a>'
    run = "".join(f"<tr><td>{html.escape(k)}</td><td>{v}</td></tr>" for k, v in cells.items())
    return (
        '<!doctype html><html><head><meta charset="utf-8"><meta http-equiv="refresh" '
        'content="2"><title>qi-load</title><style>body{font-family:sans-serif;margin:16px}'
        "table{border-collapse:collapse;margin-bottom:16px;font-size:13px}"
        "td,th{border:1px solid #ccc;padding:3px 7px;text-align:right}"
        "td:first-child,th:first-child{text-align:left}</style></head><body>"
        f"<h2>qi-load: exact latencies of the current test</h2><table><tr>{head}</tr>{latency}"
        f"</table><h2>Run</h2><table>{run}</table>"
        f'<p>JSON: <a href=".{STATS_PATH}">{STATS_PATH}</a></p></body></html>'
    )


def _register(tab: QiTab, web_ui: WebUI) -> None:
    app = web_ui.app
    assert app is not None  # WebUI builds its Flask app in __init__
    # Locust's --web-login applies to our routes too (its decorator is untyped).
    auth = cast(_ViewDecorator, web_ui.auth_required_if_enabled)

    def stats() -> Response:
        return Response(json.dumps(tab.view()), mimetype="application/json")

    def page() -> Response:
        return Response(_page(tab.view()), mimetype="text/html")

    def report() -> Response:
        run_dir = tab.qi.run_dir
        path = run_dir.path.resolve() / REPORT_HTML if run_dir is not None else None
        if path is None or not path.is_file():
            return Response("report.html is not written yet\n", status=404, mimetype="text/plain")
        return send_file(path, mimetype="text/html", max_age=0)

    def add_extended_stats(response: Response) -> Response:
        # Locust's UI polls /stats/requests; the tabs' rows travel in that same response.
        if request.endpoint != "locust.request_stats" or not response.is_json:
            return response
        view = tab.view()
        data = response.get_json()
        data["extended_stats"] = [
            {"key": TAB_KEY, "data": _latency_rows(view)},
            {"key": RUN_TAB_KEY, "data": _run_rows(view)},
        ]
        response.set_data(json.dumps(data))
        return response

    blueprint = Blueprint("qi_load", __name__, url_prefix=tab.base_path or None)
    for path, view in ((STATS_PATH, stats), (PAGE_PATH, page), (REPORT_PATH, report)):
        blueprint.add_url_rule(path, view.__name__, auth(view))
    app.register_blueprint(blueprint)
    app.after_request(add_extended_stats)
    web_ui.template_args.update(
        extended_tabs=[
            {"title": "qi-load", "key": TAB_KEY},
            {"title": "qi-load run", "key": RUN_TAB_KEY},
        ],
        extended_tables=[
            {"key": TAB_KEY, "structure": _latency_columns()},
            {
                "key": RUN_TAB_KEY,
                "structure": [{"key": "item", "title": "Item"}, {"key": "value", "title": "Value"}],
            },
        ],
        extended_csv_files=[
            {"href": f".{PAGE_PATH}", "title": "qi-load live page (report link)"},
            {"href": f".{STATS_PATH}", "title": "qi-load live statistics (JSON)"},
        ],
    )


def install(qi: QiState) -> QiTab | None:
    """Serve the qi-load tabs when this process has Locust's web UI (master / local)."""
    web_ui = qi.environment.web_ui
    if web_ui is None:
        return None
    options = qi.environment.parsed_options
    tab = QiTab(qi, str(getattr(options, "web_base_path", "") or "").rstrip("/"))
    qi.observers.append(tab.stats.observe)
    qi.environment.events.test_start.add_listener(tab.on_test_start)
    _register(tab, web_ui)
    return tab
