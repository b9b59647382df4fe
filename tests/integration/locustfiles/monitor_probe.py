"""Test locustfile: monitoring alone (no run plugin), writing CSVs through a RunDir.

``Fetcher`` times real HTTP GETs and feeds them to monitoring as records; ``Burner`` holds
its worker's CPU near 100 % (generator saturation) while still yielding to Locust.
"""

from __future__ import annotations

import time
import urllib.request
from typing import Any

import gevent
from locust import User, constant, events, task
from locust.runners import WorkerRunner

from qi_load.generate.monitoring import Monitoring, add_arguments, install_monitoring
from qi_load.record.rundir import CsvAppender, RunDir
from qi_load.record.schema import HostSample, RequestRecord

STATE: dict[str, Any] = {}


class CsvSink:
    def __init__(self, appender: CsvAppender) -> None:
        self.appender = appender

    def write_host_samples(self, samples: list[HostSample]) -> None:
        self.appender.write_rows(s.to_row() for s in samples)


@events.init_command_line_parser.add_listener
def _arguments(parser: Any) -> None:
    add_arguments(parser)
    parser.add_argument("--out-dir", default="")


@events.init.add_listener
def _init(environment: Any, **_kw: Any) -> None:
    sink = None
    if not isinstance(environment.runner, WorkerRunner):
        run = RunDir(environment.parsed_options.out_dir).create()
        STATE["samples"] = run.open_host_samples(flush_interval=0.5)
        STATE["requests"] = run.open_requests(flush_interval=0.5)
        sink = CsvSink(STATE["samples"])
    STATE["monitoring"] = install_monitoring(environment, sink, environment.parsed_options)
    STATE["monitoring"].stage_changed("probe", environment.parsed_options.num_users or 0)


@events.quit.add_listener
def _quit(**_kw: Any) -> None:
    monitoring: Monitoring = STATE["monitoring"]
    monitoring.stop()
    for key in ("samples", "requests"):
        if key in STATE:
            STATE[key].close()


class Fetcher(User):
    wait_time = constant(0.05)

    @task
    def fetch(self) -> None:
        wall, start = time.time(), time.perf_counter()
        with urllib.request.urlopen(self.host + "/health", timeout=10) as response:
            first = time.perf_counter()
            body = response.read()
            status = response.status
        done = time.perf_counter()
        record = RequestRecord(
            ts_sched=wall,
            ts_start=wall,
            worker="local",
            user_id=id(self) % 1000,
            query_type="simple",
            name="GET /health",
            status_code=status,
            ttft_ms=(first - start) * 1000,
            e2e_ms=(done - start) * 1000,
            bytes=len(body),
        )
        STATE["requests"].write_rows([record.to_row()])
        STATE["monitoring"].observe_records([record])


class Burner(User):
    wait_time = constant(0)

    @task
    def burn(self) -> None:
        end = time.perf_counter() + 0.05
        while time.perf_counter() < end:
            pass
        gevent.sleep(0)  # heartbeats and the sampler still run
