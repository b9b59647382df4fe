"""The qi-load tab on a real Locust web UI (local, and master + worker) against the reference
agent: started and stopped through Locust's HTTP API, its JSON endpoint's exact percentiles
equal those the report code computes from that run's requests.csv."""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from processes import free_port
from report_percentiles import live_view, report_view

from qi_load.agent.launch import start_target
from qi_load.generate.webui import STATS_PATH

pytestmark = pytest.mark.integration

LOCUSTFILE = Path(__file__).parents[2] / "locustfiles" / "agent.py"


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


def _post(url: str, fields: dict[str, str] | None = None) -> Any:
    data = urllib.parse.urlencode(fields or {}).encode()
    with urllib.request.urlopen(urllib.request.Request(url, data=data), timeout=10) as response:
        return json.load(response)


def _wait(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except OSError:
            pass  # the web UI is not up yet
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    try:
        yield started
    finally:
        for proc in reversed(started):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def _locust(procs: list[subprocess.Popen[bytes]], cwd: Path, args: list[str]) -> None:
    with (cwd / f"locust-{len(procs)}.log").open("wb") as log:
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "locust", *args], cwd=cwd, stdout=log, stderr=log
            )
        )


def _csv_rows(run_dir: Path) -> int:
    """Rows of finished requests: those cancelled at the stop are in no live or report figure."""
    with (run_dir / "requests.csv").open(newline="") as f:
        return sum(1 for row in csv.DictReader(f) if row["error_kind"] != "cancelled")


@pytest.mark.parametrize("distributed", [False, True], ids=["local", "master-worker"])
def test_tab_percentiles_equal_the_report_from_requests_csv(
    tmp_path: Path, procs: list[subprocess.Popen[bytes]], distributed: bool
) -> None:
    # Short answers (40 ms TTFT, 5 ms between 16 tokens): many requests in a few seconds.
    with start_target(["--timing", "all=40,5,16"], stderr_path=tmp_path / "agent.err") as agent:
        web = f"http://127.0.0.1:{free_port()}"
        common = ["-f", str(LOCUSTFILE), "-H", agent.url, "--loglevel", "WARNING"]
        ui = ["--web-host", "127.0.0.1", "--web-port", web.rsplit(":", 1)[1]]
        run = ["--run-dir", str(tmp_path / "run")]
        if distributed:
            port = str(free_port())
            bind = ["--master-bind-host", "127.0.0.1", "--master-bind-port", port]
            _locust(procs, tmp_path, [*common, *ui, *run, "--master", *bind])
            _locust(procs, tmp_path, [*common, "--worker", "--master-port", port])
            _wait(lambda: _get(f"{web}/stats/requests")["worker_count"] == 1, 60, "the worker")
        else:
            _locust(procs, tmp_path, [*common, *ui, *run])
            _wait(lambda: _get(web + STATS_PATH)["state"] == "ready", 60, "the web UI")

        assert _post(f"{web}/swarm", {"user_count": "4", "spawn_rate": "4", "host": agent.url})[
            "success"
        ]
        _wait(lambda: _get(web + STATS_PATH)["types"][-1]["ok"] >= 20, 30, "20 requests")
        running = _get(web + STATS_PATH)
        assert running["state"] in ("spawning", "running")
        assert running["users"] == 4 and running["planned_users"] == 4
        run_dir = Path(running["run_dir"])  # this test's run directory
        assert run_dir.is_relative_to(tmp_path.resolve())
        _post(f"{web}/stop")

        # Records of the last requests reach the master (and the CSV) within a second or two.
        seen: list[tuple[int, int]] = []

        def settled() -> bool:
            seen.append((_get(web + STATS_PATH)["types"][-1]["requests"], _csv_rows(run_dir)))
            time.sleep(1.2)  # longer than the tab's recompute interval
            return len(seen) >= 2 and seen[-1] == seen[-2] and seen[-1][0] == seen[-1][1]

        _wait(settled, 30, "the tab and requests.csv to agree on the count")
        view = _get(web + STATS_PATH)
        assert view["state"] == "stopped" and view["stage"] is None
        expected = report_view(run_dir)

        # A second test in the same UI session starts from zero.
        assert _post(f"{web}/swarm", {"user_count": "1", "spawn_rate": "1", "host": agent.url})[
            "success"
        ]
        second = _get(web + STATS_PATH)
        assert second["test_start"] > view["test_start"]
        assert second["types"][-1]["requests"] < view["types"][-1]["requests"]
        _post(f"{web}/stop")

    got = live_view(view["types"])
    assert got == expected
    assert got["all"]["requests"] >= 20 and len(got) >= 4  # several query types, then "all"
