"""The master's OTLP/HTTP trace receiver: the agent's spans land in the current run's spans.csv.

Runs in the master (or a local runner) beside Locust's own servers, on gevent's WSGI server.
Spans go to the run directory open at the time they arrive — an exporter batches, so spans of
a run's last requests arrive after its ``test_stop`` and still belong to it. Each run starts a
fresh span budget and its counts go to ``run.json`` (``otlp``), so a silent or rejected
exporter is visible in the report.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict
from typing import Any

import gevent
from gevent.pywsgi import WSGIServer

from qi_load.generate.options import LoadOptions
from qi_load.record.rundir import CsvAppender, RunDir
from qi_load.trace.receiver import TRACES_PATH, OtlpTraceReceiver, ReceiverCounts
from qi_load.trace.spans import SPAN_COLUMNS, SpanRow

__all__ = ["SpanIntake", "start_span_intake"]

logger = logging.getLogger("qi_load")


class SpanIntake:
    """Receives spans over OTLP/HTTP and appends them to the current run's ``spans.csv``."""

    def __init__(self, host: str, port: int) -> None:
        self.receiver = OtlpTraceReceiver(self._write)
        self._server = WSGIServer((host, port), self.receiver, log=None, error_log=logger)
        self._run_dir: RunDir | None = None
        self._appender: CsvAppender | None = None
        self.spans_outside_runs = 0

    def start(self) -> None:
        self._server.start()
        logger.info("qi-load: receiving agent spans at %s", self.url)

    @property
    def url(self) -> str:
        host, port = self._server.address[:2]
        return f"http://{host}:{port}{TRACES_PATH}"

    def open_run(self, run_dir: RunDir) -> None:
        """Spans from now on belong to ``run_dir``, with a budget of their own."""
        self._close_appender()
        self._run_dir = run_dir
        self.receiver.counts = ReceiverCounts()

    def manifest(self) -> dict[str, Any]:
        """What ``run.json`` says about the spans of the current run."""
        return {"url": self.url, **asdict(self.receiver.counts)}

    def flush(self) -> None:
        if self._appender is not None:
            self._appender.flush()

    def settle(self, quiet_s: float = 0.75, max_s: float = 3.0) -> None:
        """Wait (at most ``max_s``) until no export arrived for ``quiet_s``: exporters batch,
        so the spans of a run's last requests come after it ended."""
        deadline = time.monotonic() + max_s
        seen, quiet_since = self.receiver.counts.requests, time.monotonic()
        while time.monotonic() < deadline:
            gevent.sleep(0.1)
            if self.receiver.counts.requests != seen:
                seen, quiet_since = self.receiver.counts.requests, time.monotonic()
            elif time.monotonic() - quiet_since >= quiet_s:
                return

    def stop(self) -> None:
        self._server.stop(timeout=1)
        self._close_appender()

    def _write(self, rows: list[SpanRow]) -> None:
        if self._run_dir is None:
            self.spans_outside_runs += len(rows)
            return
        if self._appender is None:
            self._appender = self._run_dir.open_spans(SPAN_COLUMNS)
        self._appender.write_rows(row.as_row() for row in rows)

    def _close_appender(self) -> None:
        if self._appender is not None:
            self._appender.close()
            self._appender = None


def start_span_intake(options: LoadOptions) -> SpanIntake | None:
    """The receiver ``--otlp-port`` asks for, listening on ``--monitor-bind-host``."""
    if not options.otlp_port:
        return None
    intake = SpanIntake(options.monitor_bind_host, options.otlp_port)
    intake.start()
    return intake
