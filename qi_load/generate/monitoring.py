"""Monitoring inside Locust: process samplers, the sidecar port, Prometheus metrics, live alerts."""

from __future__ import annotations

import argparse
import logging
import os
import socket
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Final, Protocol

import gevent
import gevent.monkey
import gevent.socket
import psutil
import zmq
from gevent.threadpool import ThreadPool
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner
from prometheus_client import CollectorRegistry, Counter, Gauge, make_wsgi_app
from pydantic import BaseModel, ConfigDict, Field

from qi_load.generate import options as load_options
from qi_load.generate.otel_metrics import OtelRequestMetrics
from qi_load.generate.request_metrics import RequestMetrics
from qi_load.monitor.alert_rules import AlertEvaluator, AlertEvent, AlertRule, parse_rules
from qi_load.monitor.greenlets import count_greenlets, counting_enabled
from qi_load.monitor.hostmon import HostProbe, ProcessSampler, find_pids_by_name
from qi_load.monitor.sample_gate import SampleGate, worker_samples
from qi_load.monitor.saturation import DEFAULT_MIN_SECONDS, DEFAULT_THRESHOLD_PCT
from qi_load.record.ingest_key import ingest_key
from qi_load.record.schema import HostSample, RequestRecord
from qi_load.record.wall_clock import wall_now
from qi_load.vocabulary import Role

__all__ = [
    "LATENCY_BUCKETS_S",
    "MONITOR_MESSAGE",
    "HostSampleSink",
    "Monitoring",
    "MonitoringOptions",
    "add_arguments",
    "install_monitoring",
]

log = logging.getLogger("qi_load.monitoring")

MONITOR_MESSAGE: Final = "qi_host_samples"
"""Worker -> master custom message: ``{"samples": [HostSample wire dicts]}``."""
LATENCY_BUCKETS_S: Final = (0.1, 0.5, 1.0, 2.0, 5.0)
"""The methodology's histogram buckets (100, 500, 1000, 2000, 5000 ms), in seconds."""
_NAME_RETRY_S: Final = 10.0
_PENDING_MAX: Final = 10_000
"""Samples waiting for the hub; only reached if the hub stalls for many minutes."""
_native_sleep = gevent.monkey.get_original("time", "sleep")


class HostSampleSink(Protocol):
    """Where the master writes samples (the run-directory writer)."""

    def write_host_samples(self, samples: list[HostSample]) -> None: ...


class MonitoringOptions(BaseModel):
    """What to sample and serve; built from Locust's parsed options and the scenario."""

    model_config = ConfigDict(extra="forbid")

    interval_s: float = Field(default=1.0, gt=0, description="Seconds between samples.")
    pids: list[int] = Field(default_factory=list, description="PIDs sampled as role 'sut'.")
    target_pids: list[int] = Field(
        default_factory=list, description="PIDs sampled as role 'target' (the embedded agent)."
    )
    names: list[str] = Field(
        default_factory=list, description="Process names (or command-line parts) as 'sut'."
    )
    monitor_port: int = Field(
        default=0, ge=0, le=65535, description="Sidecar PULL port on the master; 0 = off."
    )
    metrics_port: int = Field(
        default=0, ge=0, le=65535, description="Prometheus /metrics port on the master; 0 = off."
    )
    bind_host: str = Field(
        default=load_options.LOOPBACK,
        description="Interface the sidecar and metrics ports listen on.",
    )
    alerts: list[AlertRule] | None = Field(
        default=None, description="Alert rules evaluated live; None = the methodology's."
    )
    saturation_pct: float = Field(
        default=DEFAULT_THRESHOLD_PCT, gt=0, description="Generator saturation threshold."
    )
    saturation_s: float = Field(
        default=DEFAULT_MIN_SECONDS, gt=0, description="Seconds above it that invalidate."
    )

    @classmethod
    def from_parsed_options(
        cls, parsed: load_options.LoadOptions | argparse.Namespace | None, scenario: Any = None
    ) -> MonitoringOptions:
        """Command-line options win over the scenario's ``monitor`` and ``alerts`` sections.

        Options this module did not add (``add_arguments`` not called) read as defaults, so
        a locustfile without them still gets its own processes sampled.
        """

        def opt(name: str, default: Any) -> Any:
            value = getattr(parsed, name, None) if parsed is not None else None
            return default if value in (None, [], 0, "") else value

        monitor = getattr(scenario, "monitor", None)
        alerts = getattr(scenario, "alerts", None)
        target_pids = list(opt("monitor_target_pid", []))
        if opt("target_pid", 0):  # the run plugin's name for the embedded agent's PID
            target_pids.append(int(parsed.target_pid))  # type: ignore[union-attr]
        return cls(
            interval_s=opt("monitor_interval", getattr(monitor, "interval_s", 1.0)),
            pids=[*opt("monitor_pid", []), *getattr(monitor, "pids", [])],
            target_pids=target_pids,
            names=[*opt("monitor_name", []), *getattr(monitor, "names", [])],
            monitor_port=opt("monitor_port", 0),
            metrics_port=opt("metrics_port", 0),
            bind_host=opt("monitor_bind_host", load_options.LOOPBACK),
            alerts=parse_rules(alerts) if alerts is not None else None,
            saturation_pct=opt("saturation_threshold", DEFAULT_THRESHOLD_PCT),
            saturation_s=opt("saturation_seconds", DEFAULT_MIN_SECONDS),
        )


def add_arguments(parser: Any) -> None:
    """Add the monitoring options to Locust's parser (call from ``init_command_line_parser``)."""
    load_options.add_arguments(parser, [load_options.MONITORING])


class _Metrics:
    """The live Prometheus metrics, in a private registry (nothing global leaks in)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = RequestMetrics(LATENCY_BUCKETS_S)
        r.register(self.requests)
        self.users = Gauge("qi_users", "Running users", registry=r)
        self.stage_users = Gauge("qi_stage_users", "Users the current stage asks for", registry=r)
        self.stage = Gauge("qi_stage", "1 for the current stage", ["stage"], registry=r)
        self.cpu = Gauge(
            "qi_host_cpu_percent", "Process CPU %", ["role", "host", "pid"], registry=r
        )
        self.rss = Gauge("qi_host_rss_bytes", "Process RSS", ["role", "host", "pid"], registry=r)
        self.host_cpu = Gauge("qi_host_machine_cpu_percent", "Host CPU %", ["host"], registry=r)
        self.alert = Gauge(
            "qi_alert_firing", "1 while a rule fires", ["rule", "severity", "key"], registry=r
        )
        self.samples = Counter("qi_host_samples", "Host samples received", ["role"], registry=r)


class Monitoring:
    """Everything monitoring does in one Locust process; see ``install_monitoring``."""

    def __init__(
        self,
        environment: Environment,
        sink: HostSampleSink | None,
        options: MonitoringOptions,
        clock: Callable[[], float] = wall_now,
    ) -> None:
        self.environment = environment
        self.clock = clock
        self.sink = sink
        self.options = options
        runner = environment.runner
        self.role: Role = (
            "master"
            if isinstance(runner, MasterRunner)
            else "worker"
            if isinstance(runner, WorkerRunner)
            else "local"
        )
        self.is_writer = self.role != "worker"
        self.host = socket.gethostname()
        self.samples_written = 0
        self.metrics = _Metrics() if self.is_writer else None
        # Locust's --otel has set up the global meter provider: qi-load's metrics join it.
        otel = bool(getattr(environment.parsed_options, "otel", False))
        self.otel = OtelRequestMetrics.from_global_provider() if otel and self.is_writer else None
        self.alerts = AlertEvaluator(parse_rules(options.alerts)) if self.is_writer else None
        self._probe = HostProbe()
        # Locust processes have no children of their own; skipping the scan for them keeps
        # the sampler thread's GIL waits (and its cost) minimal in a CPU-bound worker.
        self._samplers = [
            ProcessSampler(
                os.getpid(),
                self.role,
                self.host,
                include_children=False,
                probe=self._probe,
                clock=clock,
            )
        ]
        self._count_greenlets = counting_enabled()
        self.gate = SampleGate()
        self._names_pending = list(options.names) if self.is_writer else []
        self._names_checked = 0.0
        self._greenlets: list[gevent.Greenlet] = []
        self._receiver: Any = None
        self._server: Any = None
        self._stopped = False
        if self.is_writer:
            self._watch(options.target_pids, "target")
            self._watch(options.pids, "sut")
            self._find_names()
        if isinstance(runner, MasterRunner):
            runner.register_message(MONITOR_MESSAGE, self._on_worker_samples)
        # A port that cannot be bound costs its feature, not the run: logged as an error.
        if self.is_writer and options.monitor_port:
            try:
                self._start_receiver()
            except zmq.ZMQError as exc:
                log.error("monitor: --monitor-port %d: cannot bind: %s", options.monitor_port, exc)
        if self.is_writer and options.metrics_port:
            try:
                self._start_metrics_server()
            except OSError as exc:
                log.error("monitor: --metrics-port %d: cannot bind: %s", options.metrics_port, exc)
        self._pending: deque[HostSample | ProcessSampler] = deque(maxlen=_PENDING_MAX)
        self._pool = ThreadPool(1)
        self._thread = self._pool.spawn(self._sample_thread)
        self._greenlets.append(gevent.spawn(self._ship_loop))

    @property
    def metrics_port(self) -> int | None:
        return None if self._server is None else int(self._server.server_port)

    @property
    def monitor_port(self) -> int | None:
        return None if self._receiver is None else int(self._receiver.port)

    # -- feeding -------------------------------------------------------------------------

    def observe_records(self, records: Iterable[RequestRecord]) -> None:
        """Master/local: count requests into the histograms and the p95/error alert series."""
        if self.metrics is None or self.alerts is None:
            return
        records = list(records)
        self.metrics.requests.observe(records)
        if self.otel is not None:
            self.otel.observe(records)
        self.alerts.add_records(records)

    def stage_changed(self, stage_name: str, users: int) -> None:
        if self.metrics is None:
            return
        self.metrics.stage.clear()
        self.metrics.stage.labels(stage_name).set(1)
        self.metrics.stage_users.set(users)

    def accept_samples(self, samples: Sequence[HostSample]) -> None:
        """Master/local: write samples of any role and feed the gauges and alerts."""
        if not samples or self.metrics is None or self.alerts is None:
            return
        if self.sink is not None:
            self.sink.write_host_samples(list(samples))
        self.samples_written += len(samples)
        for s in samples:
            labels = (s.role, s.host, str(s.pid))
            self.metrics.cpu.labels(*labels).set(s.cpu_percent)
            self.metrics.rss.labels(*labels).set(s.rss_bytes)
            self.metrics.host_cpu.labels(s.host).set(s.host_cpu_percent)
            self.metrics.samples.labels(s.role).inc()
        self.alerts.add_samples(samples)

    def retime(self, interval_s: float) -> None:
        """Sample every ``interval_s`` from now on (a worker learns the run's interval from
        the master's options at its first test)."""
        self.options = self.options.model_copy(update={"interval_s": interval_s})

    def stop(self) -> None:
        """Stop sampling, serving and receiving; idempotent."""
        if self._stopped:
            return
        self._stopped = True
        self._thread.wait(timeout=2 * self.options.interval_s + 1)
        self._pool.kill()
        gevent.killall(self._greenlets, block=True, timeout=2)
        self._ship()  # the last samples (the sink is still open: the caller closes it)
        if self._receiver is not None:
            self.accept_samples(self._receiver.recv(0))
            self._receiver.close()
        if self._server is not None:
            self._server.stop(timeout=1)

    # -- internals -----------------------------------------------------------------------

    def _watch(self, pids: Iterable[int], role: Role) -> None:
        for pid in pids:
            try:
                self._samplers.append(
                    ProcessSampler(pid, role, self.host, probe=self._probe, clock=self.clock)
                )
            except psutil.Error as exc:
                log.warning("monitor: cannot sample pid %d (%s): %s", pid, role, exc)

    def _find_names(self) -> None:
        self._names_checked = time.monotonic()
        watched = {s.pid for s in self._samplers}
        for name in list(self._names_pending):
            pids = [p for p in find_pids_by_name(name) if p not in watched]
            if pids:
                self._names_pending.remove(name)
                self._watch(pids, "sut")
            else:
                log.warning("monitor: no process named %r yet; looking again", name)

    def _sample_thread(self) -> None:
        """Native thread: samples on time even when the greenlets are starved.

        A saturated worker runs its hub late (measured: 1.25 s ticks for a 0.5 s interval),
        and a saturated worker is exactly what must be measured; a real thread gets the GIL
        within the 5 ms switch interval instead. It only appends to a deque: logging,
        sockets and metrics stay on the hub's thread.
        """
        next_tick = time.monotonic() + self.options.interval_s
        while not self._stopped:
            interval = self.options.interval_s
            _native_sleep(min(0.2, max(0.0, next_tick - time.monotonic())))
            if time.monotonic() < next_tick:
                continue
            next_tick += interval
            if time.monotonic() > next_tick:  # fell behind (suspended?): skip, don't burst
                next_tick = time.monotonic() + interval
            reading = self._probe.read()
            for sampler in list(self._samplers):
                try:
                    sample = sampler.sample(reading)
                except psutil.Error:
                    self._pending.append(sampler)  # gone: the hub logs and drops it
                    continue
                if self._count_greenlets and sampler is self._samplers[0]:
                    sample.greenlets = count_greenlets()  # this process: the first sampler
                self._pending.append(sample)

    def _ship_loop(self) -> None:
        while True:
            gevent.sleep(self.options.interval_s)
            if self._names_pending and time.monotonic() - self._names_checked > _NAME_RETRY_S:
                self._find_names()
            self._ship()

    def _ship(self) -> None:
        samples: list[HostSample] = []
        while self._pending:
            item = self._pending.popleft()
            if isinstance(item, HostSample):
                samples.append(item)
            elif item in self._samplers:
                log.warning("monitor: pid %d (%s) is gone", item.pid, item.role)
                self._samplers.remove(item)
        runner = self.environment.runner
        if self.role == "worker":
            if runner is not None and samples:
                runner.send_message(MONITOR_MESSAGE, {"samples": [s.to_wire() for s in samples]})
            return
        self.accept_samples(samples)
        if self.metrics is not None and runner is not None:
            self.metrics.users.set(runner.user_count)
        self._evaluate_alerts()

    def _evaluate_alerts(self) -> None:
        if self.alerts is None or self.metrics is None:
            return
        for event in self.alerts.evaluate(wall_now()):
            _log_event(event)
            gauge = self.metrics.alert.labels(event.rule, event.severity, event.key)
            gauge.set(1 if event.state == "firing" else 0)

    def _on_worker_samples(self, environment: Environment, msg: Any, **_kw: Any) -> None:
        self.accept_samples(worker_samples(self.gate, environment.runner, msg, _PENDING_MAX))

    def _start_receiver(self) -> None:
        import zmq.green

        from qi_load.monitor.sidecar import SampleReceiver

        bind = f"tcp://{_zmq_host(self.options.bind_host)}:{self.options.monitor_port}"
        key = ingest_key()
        self._receiver = SampleReceiver(bind, key=key, gate=self.gate, zmq_module=zmq.green)
        self._greenlets.append(gevent.spawn(self._receive_loop))
        log.info(
            "monitor: sidecar samples on %s%s", bind, " (CURVE: the key required)" if key else ""
        )

    def _receive_loop(self) -> None:
        while True:
            self.accept_samples(self._receiver.recv(1000))

    def _start_metrics_server(self) -> None:
        from gevent.pywsgi import WSGIServer

        assert self.metrics is not None
        app = make_wsgi_app(self.metrics.registry)
        # Our own listener: gevent's leaves its socket unclosed when the bind fails.
        listener = gevent.socket.socket(gevent.socket.AF_INET, gevent.socket.SOCK_STREAM)
        try:
            listener.setsockopt(gevent.socket.SOL_SOCKET, gevent.socket.SO_REUSEADDR, 1)
            listener.bind((self.options.bind_host, self.options.metrics_port))
            listener.listen(128)
        except OSError:
            listener.close()
            raise
        self._server = WSGIServer(listener, app, log=None, error_log=log)
        self._server.start()
        log.info("monitor: Prometheus metrics on port %d", self._server.server_port)


def _zmq_host(host: str) -> str:
    return "*" if host in ("", "0.0.0.0") else host


def _log_event(event: AlertEvent) -> None:
    if event.state == "firing" and event.severity == "critical":
        log.error("%s", event.message)
    else:
        log.warning("%s", event.message)


def install_monitoring(
    environment: Environment,
    sink: HostSampleSink | None,
    options: MonitoringOptions | load_options.LoadOptions | argparse.Namespace | None = None,
    *,
    scenario: Any = None,
    clock: Callable[[], float] = wall_now,
) -> Monitoring:
    """Start monitoring in this Locust process (call from ``events.init``).

    Every process samples itself every ``interval_s`` (role master / worker / local);
    workers ship their samples to the master with the ``qi_host_samples`` message. The
    master (or local runner) also samples ``pids``/``target_pids``/``names``, receives
    sidecar samples on ``monitor_port``, writes everything through ``sink``, serves
    Prometheus metrics on ``metrics_port`` and logs alert transitions. ``options`` may be
    Locust's parsed options (with or without ``add_arguments``'s flags); the ``scenario``'s
    ``monitor`` and ``alerts`` sections apply when given. ``clock`` times the samples (a
    worker's: on the master's time line).
    """
    if not isinstance(options, MonitoringOptions):
        options = MonitoringOptions.from_parsed_options(
            options if options is not None else environment.parsed_options, scenario
        )
    return Monitoring(environment, sink, options, clock)
