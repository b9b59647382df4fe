"""The web UI wiring on Locust's real Flask app (test client): routes, tabs, report link."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from locust.argument_parser import get_parser
from locust.env import Environment

from qi_load.generate import webui
from qi_load.generate.run_state import QiState
from qi_load.record.rundir import REPORT_HTML, RunDir
from qi_load.record.schema import RequestRecord


def _record(e2e: float) -> RequestRecord:
    return RequestRecord(
        ts_sched=1.0, ts_start=1.0, worker="w", user_id=1, query_type="simple", name="simple",
        e2e_ms=e2e, ttft_ms=e2e / 2, ttfc_ms=e2e / 2 + 1, quality_ok=e2e < 25,
        retries=int(e2e == 10),
    )  # fmt: skip


def test_routes_tabs_and_report_link(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "argv", ["locust"])  # Locust's UI parses the command line
    env = Environment()
    env.create_local_runner()
    web_ui = env.create_web_ui("127.0.0.1", 0, delayed_start=True)
    qi = QiState(environment=env, run_dir=RunDir(tmp_path).create())
    tab = webui.install(qi)
    assert tab is not None
    tab.on_test_start()
    qi.write([_record(float(v)) for v in (10, 20, 30)])
    client = web_ui.app.test_client()

    view = client.get(webui.STATS_PATH).get_json()
    simple = view["types"][0]
    assert simple["query_type"] == "simple" and simple["requests"] == 3
    assert simple["metrics"]["e2e_ms"]["p50"] == 20.0
    assert simple["metrics"]["ttft_ms"]["p99"] == 14.9
    assert view["run_dir"] == str(tmp_path.resolve())
    assert view["report_url"] is None
    assert client.get(webui.REPORT_PATH).status_code == 404

    extended = {
        e["key"]: e["data"] for e in client.get("/stats/requests").get_json()["extended_stats"]
    }
    assert extended[webui.TAB_KEY][0]["e2e_ms_p50"] == 20.0
    assert extended[webui.TAB_KEY][0]["ttfc_ms_p50"] == 11.0
    assert extended[webui.TAB_KEY][0]["quality"] == "2/3 (67%)"
    assert extended[webui.TAB_KEY][0]["retries"] == 1
    titles = [c["title"] for c in web_ui.template_args["extended_tables"][0]["structure"]]
    assert {"TTFC p99 (ms)", "Quality (passed/checked)", "# Retries"} <= set(titles)
    assert extended[webui.TAB_KEY][-1]["name"] == "All"
    run_rows = {r["item"]: r["value"] for r in extended[webui.RUN_TAB_KEY]}
    assert run_rows["Run directory"] == str(tmp_path.resolve())
    assert [t["key"] for t in web_ui.template_args["extended_tabs"]] == [
        webui.TAB_KEY, webui.RUN_TAB_KEY
    ]  # fmt: skip
    web_ui.update_template_args()  # Locust refreshes its own arguments on every page load
    assert "extended_tables" in web_ui.template_args

    (tmp_path / REPORT_HTML).write_text("<html>report</html>", encoding="utf-8")
    assert client.get(webui.STATS_PATH).get_json()["report_url"] == webui.REPORT_PATH
    with client.get(webui.REPORT_PATH) as report:
        assert report.data == b"<html>report</html>"
    assert f'href="{webui.REPORT_PATH}"' in client.get(webui.PAGE_PATH).get_data(as_text=True)

    tab.on_test_start()  # a new test shows its own numbers
    assert client.get(webui.STATS_PATH).get_json()["types"][-1]["requests"] == 0


def test_no_web_ui_no_tab() -> None:
    env = Environment()
    env.create_local_runner()
    assert webui.install(QiState(environment=env)) is None


def test_routes_follow_locusts_web_base_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "argv", ["locust"])
    options = get_parser().parse_args(["--web-base-path", "/locust/"])
    env = Environment(parsed_options=options)
    env.create_local_runner()
    web_ui = env.create_web_ui("127.0.0.1", 0, web_base_path="/locust", delayed_start=True)
    webui.install(QiState(environment=env, run_dir=RunDir(tmp_path).create()))
    (tmp_path / REPORT_HTML).write_text("<html></html>", encoding="utf-8")
    client = web_ui.app.test_client()
    view = client.get("/locust" + webui.STATS_PATH).get_json()
    assert view["report_url"] == "/locust" + webui.REPORT_PATH
    assert client.get(webui.STATS_PATH).status_code == 404
