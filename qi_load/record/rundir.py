"""Run-directory layout: its file names, the append-only CSV writers, the manifest's place."""

from __future__ import annotations

import contextlib
import csv
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Final, TextIO

from qi_load.errors import OutputError
from qi_load.record.manifest import (
    Manifest,
    RunStatus,
    merge_manifest,
    read_manifest,
    write_manifest,
)
from qi_load.record.schema import HOST_SAMPLE_COLUMNS, REQUEST_COLUMNS

__all__ = [
    "COLUMNAR_MIN_BYTES",
    "HOST_SAMPLES_CSV",
    "REPORT_HTML",
    "REQUESTS_CSV",
    "REQUESTS_PARQUET",
    "RUN_JSON",
    "SPANS_CSV",
    "CsvAppender",
    "OnOutputError",
    "RunDir",
    "RunStatus",
    "new_run_id",
]

RUN_JSON: Final = "run.json"
REQUESTS_CSV: Final = "requests.csv"
REQUESTS_PARQUET: Final = "requests.parquet"
"""The columnar copy of ``requests.csv``, written once the run is closed
(``qi_load.record.columnar``)."""
COLUMNAR_MIN_BYTES: Final = 64 * 2**20
"""From this size of ``requests.csv`` (about 400,000 rows) a closed run gets its
``requests.parquet``: converting costs less than one read of the CSV with pandas."""
HOST_SAMPLES_CSV: Final = "host_samples.csv"
REPORT_HTML: Final = "report.html"
SPANS_CSV: Final = "spans.csv"

OnOutputError = Callable[[OutputError], None]
"""Told of a failed write instead of an exception (a Locust process stops its run on it)."""


def _output_failed(path: Path, exc: OSError, on_error: OnOutputError | None) -> None:
    error = OutputError(path, exc.strerror or str(exc))
    if on_error is None:
        raise error from None
    on_error(error)


def new_run_id(scenario_name: str = "run", now: float | None = None) -> str:
    """A sortable, filesystem-safe run id such as ``20261127-224901-quick-ladder``."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(time.time() if now is None else now))
    safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in scenario_name).strip("-")
    return f"{stamp}-{safe or 'run'}"


class CsvAppender:
    """Append-only CSV writer that writes its header once and flushes on a time budget.

    Rows are written immediately to the file object's buffer; ``maybe_flush`` pushes them
    to the OS at most ``flush_interval`` seconds apart, so a crash loses at most that much.
    """

    def __init__(
        self,
        path: Path,
        columns: Sequence[str],
        *,
        flush_interval: float = 1.0,
        on_error: OnOutputError | None = None,
    ) -> None:
        self.path = path
        self.columns = tuple(columns)
        self.flush_interval = flush_interval
        self.rows_written = 0
        self._on_error = on_error
        self.broken = False
        """A write failed: later rows are dropped (the run is being stopped)."""
        self._last_flush = time.monotonic()
        try:
            existed = path.exists() and path.stat().st_size > 0
            self._file: TextIO = path.open("a", newline="", encoding="utf-8")
            self._writer = csv.writer(self._file)
            if not existed:
                self._writer.writerow(self.columns)
                self._file.flush()
        except OSError as exc:
            self._fail(exc)

    def _fail(self, exc: OSError) -> None:
        self.broken = True
        if hasattr(self, "_file"):
            with contextlib.suppress(OSError):
                self._file.close()
        _output_failed(self.path, exc, self._on_error)

    def write_rows(self, rows: Iterable[Sequence[Any]]) -> None:
        if self.broken:
            return
        try:
            for row in rows:
                self._writer.writerow(row)
                self.rows_written += 1
        except OSError as exc:
            self._fail(exc)
            return
        self.maybe_flush()

    def write_text(self, text: str, rows: int) -> None:
        """``rows`` rows already formatted as CSV lines: one write for a whole batch."""
        if self.broken:
            return
        try:
            self._file.write(text)
        except OSError as exc:
            self._fail(exc)
            return
        self.rows_written += rows
        self.maybe_flush()

    def maybe_flush(self) -> None:
        if time.monotonic() - self._last_flush >= self.flush_interval:
            self.flush()

    def flush(self) -> None:
        self._last_flush = time.monotonic()
        if self.broken or self._file.closed:
            return
        try:
            self._file.flush()
        except OSError as exc:
            self._fail(exc)

    def close(self) -> None:
        if self.broken or self._file.closed:
            return
        self.flush()
        with contextlib.suppress(OSError):
            self._file.close()


class RunDir:
    """The files of one run: ``reports/<run-id>/`` (see docs/run-directory.md)."""

    def __init__(self, path: Path | str, *, on_error: OnOutputError | None = None) -> None:
        self.path = Path(path)
        self.on_error = on_error
        """Without it a failed write raises ``OutputError``; with it, it is told instead."""

    @property
    def run_json(self) -> Path:
        return self.path / RUN_JSON

    @property
    def requests_csv(self) -> Path:
        return self.path / REQUESTS_CSV

    @property
    def host_samples_csv(self) -> Path:
        return self.path / HOST_SAMPLES_CSV

    @property
    def spans_csv(self) -> Path:
        """The agent's own spans, received over OTLP during the run (``--otlp-port``)."""
        return self.path / SPANS_CSV

    @property
    def locust_csv_prefix(self) -> Path:
        """Prefix for Locust's ``--csv`` option: files become ``locust_stats.csv`` etc."""
        return self.path / "locust"

    def create(self) -> RunDir:
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            _output_failed(self.path, exc, self.on_error)
        return self

    def open_requests(self, *, flush_interval: float = 1.0) -> CsvAppender:
        return CsvAppender(
            self.requests_csv,
            REQUEST_COLUMNS,
            flush_interval=flush_interval,
            on_error=self.on_error,
        )

    def open_host_samples(self, *, flush_interval: float = 1.0) -> CsvAppender:
        return CsvAppender(
            self.host_samples_csv,
            HOST_SAMPLE_COLUMNS,
            flush_interval=flush_interval,
            on_error=self.on_error,
        )

    def open_spans(self, columns: Sequence[str], *, flush_interval: float = 1.0) -> CsvAppender:
        """``spans.csv`` (its columns are ``qi_load.trace.spans.SPAN_COLUMNS``)."""
        return CsvAppender(
            self.spans_csv, columns, flush_interval=flush_interval, on_error=self.on_error
        )

    def read_manifest(self) -> Manifest:
        """The parsed ``run.json``; raises ``FileNotFoundError`` or ``ValueError``."""
        return read_manifest(self.run_json)

    def write_manifest(self, manifest: Manifest) -> None:
        """Replace ``run.json`` atomically so readers never see half a file; a failed write
        (disk full) leaves the last good version and no temporary file behind."""
        try:
            write_manifest(self.run_json, manifest)
        except OSError as exc:
            _output_failed(self.run_json, exc, self.on_error)

    def update_manifest(self, **fields: Any) -> Manifest:
        """Merge ``fields`` into ``run.json`` (created when missing) and return the result."""
        merged = merge_manifest(self.run_json, **fields)
        self.write_manifest(merged)
        return merged
