"""install_monitoring in a real local Locust runner: options, samples, metrics, alerts."""

from __future__ import annotations

import argparse
import logging
import os
import time
from collections.abc import Callable, Iterator
from types import SimpleNamespace

import gevent
import pytest
from locust import User, constant, task
from locust.env import Environment
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from qi_load.generate.monitoring import (
    Monitoring,
    MonitoringOptions,
    add_arguments,
    install_monitoring,
)
from qi_load.monitor.alert_rules import AlertRule
from qi_load.record.schema import HostSample, RequestRecord


class Idle(User):
    wait_time = constant(1)

    @task
    def nothing(self) -> None:
        pass


class ListSink:
    def __init__(self) -> None:
        self.samples: list[HostSample] = []

    def write_host_samples(self, samples: list[HostSample]) -> None:
        self.samples += samples


@pytest.fixture
def local_env() -> Iterator[Environment]:
    env = Environment(user_classes=[Idle])
    env.create_local_runner()
    try:
        yield env
    finally:
        assert env.runner is not None
        env.runner.quit()


def test_options_from_parsed_options_and_scenario() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    parsed = parser.parse_args(
        [
            "--monitor-pid",
            "5",
            "--monitor-pid",
            "6",
            "--monitor-name",
            "uvicorn",
            "--metrics-port",
            "9100",
            "--saturation-threshold",
            "75",
        ]
    )
    scenario = SimpleNamespace(
        monitor=SimpleNamespace(interval_s=2.0, pids=[7], names=["agent"]),
        alerts=[{"name": "x", "metric": "cpu_percent", "threshold": 50}],
    )
    options = MonitoringOptions.from_parsed_options(parsed, scenario)
    assert options.pids == [5, 6, 7] and options.names == ["uvicorn", "agent"]
    assert options.interval_s == 2.0 and options.metrics_port == 9100
    assert options.saturation_pct == 75.0 and options.monitor_port == 0
    assert options.alerts is not None and options.alerts[0].name == "x"
    # The run plugin's own --target-pid, without this module's options at all.
    bare = MonitoringOptions.from_parsed_options(argparse.Namespace(target_pid=42))
    assert bare.target_pids == [42] and bare.interval_s == 1.0 and bare.alerts is None


def _until(done: Callable[[], bool], timeout_s: float = 5.0) -> None:
    """Yield to the monitoring greenlets until ``done()``: a fixed sleep waits for the
    slowest machine every time."""
    deadline = time.monotonic() + timeout_s
    while not done() and time.monotonic() < deadline:
        gevent.sleep(0.005)


def _metrics(monitoring: Monitoring) -> dict[str, object]:
    assert monitoring.metrics is not None
    text = generate_latest(monitoring.metrics.registry).decode()
    return {f.name: f for f in text_string_to_metric_families(text)}


def test_local_runner_samples_itself_and_counts_requests(
    local_env: Environment, caplog: pytest.LogCaptureFixture
) -> None:
    sink = ListSink()
    rule = AlertRule(name="slow", metric="e2e_p95_ms", threshold=1000.0, window_s=30.0)
    # Three samples are waited for: at 20 ms apart they take ~60 ms.
    options = MonitoringOptions(interval_s=0.02, target_pids=[os.getpid()], alerts=[rule])
    monitoring = install_monitoring(local_env, sink, options)
    try:
        monitoring.stage_changed("s1", 3)
        now = time.time()
        records = [
            RequestRecord(
                ts_sched=now,
                ts_start=now - 3,
                worker="local",
                user_id=i,
                query_type="reasoning",
                name="chat",
                e2e_ms=2500.0,
                ttft_ms=400.0,
            )
            for i in range(6)
        ] + [
            RequestRecord(
                ts_sched=now,
                ts_start=now,
                worker="local",
                user_id=9,
                query_type="simple",
                name="chat",
                ok=False,
                error_kind="timeout",
                status_code=0,
            )
        ]
        with caplog.at_level(logging.WARNING, logger="qi_load.monitoring"):
            monitoring.observe_records(records)
            _until(
                lambda: (
                    "alert slow (warning) firing" in caplog.text
                    and sum(s.role == "local" for s in sink.samples) >= 3
                )
            )
        assert "alert slow (warning) firing for reasoning" in caplog.text
    finally:
        monitoring.stop()
    roles = {(s.role, s.pid) for s in sink.samples}
    assert roles == {("local", os.getpid()), ("target", os.getpid())}
    assert len([s for s in sink.samples if s.role == "local"]) >= 3
    families = _metrics(monitoring)
    buckets = {
        s.labels["le"]: s.value
        for s in families["qi_request_duration_seconds"].samples  # type: ignore[attr-defined]
        if s.name.endswith("_bucket") and s.labels["query_type"] == "reasoning"
    }
    assert buckets == {"0.1": 0, "0.5": 0, "1.0": 0, "2.0": 0, "5.0": 6, "+Inf": 6}
    failures = families["qi_request_failures"].samples  # type: ignore[attr-defined]
    assert [(s.labels["error_kind"], s.value) for s in failures if s.name.endswith("_total")] == [
        ("timeout", 1.0)
    ]
    stage = families["qi_stage"].samples  # type: ignore[attr-defined]
    assert [(s.labels["stage"], s.value) for s in stage] == [("s1", 1.0)]
    firing = families["qi_alert_firing"].samples  # type: ignore[attr-defined]
    assert [(s.labels["rule"], s.labels["key"], s.value) for s in firing] == [
        ("slow", "reasoning", 1.0)
    ]


def test_gone_pid_is_dropped_with_a_warning(
    local_env: Environment, caplog: pytest.LogCaptureFixture
) -> None:
    import subprocess

    # It lives until it has been sampled, however slow the host, and ends then: no fixed
    # lifetime to wait out.
    proc = subprocess.Popen(["sleep", "30"])
    sink = ListSink()
    monitoring = install_monitoring(
        local_env, sink, MonitoringOptions(interval_s=0.005, pids=[proc.pid])
    )
    try:
        with caplog.at_level(logging.WARNING, logger="qi_load.monitoring"):
            _until(lambda: any(s.pid == proc.pid for s in sink.samples))
            proc.kill()
            proc.wait()
            _until(lambda: f"pid {proc.pid} (sut) is gone" in caplog.text)
    finally:
        proc.kill()
        proc.wait()
        monitoring.stop()
    assert f"pid {proc.pid} (sut) is gone" in caplog.text
    assert any(s.pid == proc.pid for s in sink.samples)


def test_local_runner_receives_sidecar_samples_and_survives_a_taken_port(
    local_env: Environment, caplog: pytest.LogCaptureFixture
) -> None:
    import socket

    from qi_load.monitor.sidecar import SamplePublisher

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy_port = taken.getsockname()[1]
        with caplog.at_level(logging.ERROR, logger="qi_load.monitoring"):
            blocked = install_monitoring(
                local_env,
                ListSink(),
                MonitoringOptions(
                    interval_s=0.02,  # stopping waits for the sampler's first sleep
                    monitor_port=busy_port,
                    metrics_port=busy_port,
                    bind_host="127.0.0.1",
                ),
            )
            blocked.stop()
    assert f"--monitor-port {busy_port}: cannot bind" in caplog.text
    assert f"--metrics-port {busy_port}: cannot bind" in caplog.text

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sink = ListSink()
    monitoring = install_monitoring(
        local_env,
        sink,
        MonitoringOptions(interval_s=0.02, monitor_port=port, bind_host="127.0.0.1"),
    )
    publisher = SamplePublisher(f"tcp://127.0.0.1:{port}")
    try:
        sidecar_sample = HostSample(
            ts=time.time(), host="sut-host", role="sut", pid=4242, cpu_percent=1.0, rss_bytes=1
        )
        for _ in range(150):
            publisher.publish([sidecar_sample] if publisher.delivered == 0 else [])
            gevent.sleep(0.02)
            if any(s.host == "sut-host" for s in sink.samples):
                break
    finally:
        publisher.close()
        monitoring.stop()
    assert sidecar_sample in sink.samples
