"""Buffered record collection on workers and the master's run-directory writer."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TypedDict

from qi_load.record.batch_wire import encode_batch
from qi_load.record.csv_block import request_rows_text
from qi_load.record.ingest_key import sign
from qi_load.record.rundir import CsvAppender, RunDir
from qi_load.record.schema import HostSample, RequestRecord

__all__ = [
    "RecordBuffer",
    "RecordsPayload",
    "RunWriter",
    "serialize_records",
]


class RecordsPayload(TypedDict):
    """What a worker adds to its Locust stats report: its records since the last report.

    Shipping records inside the same message as Locust's own stats keeps both counts equal
    by construction: a report that is lost is lost for both. ``body`` is the records as one
    columnar batch (``batch_wire``: a column per field, numbers as packed arrays, so the
    master checks and decodes a column at a time, not a value at a time) and ``mac`` the
    HMAC of the whole body under the ingest key ("" without one), which the master's
    ``RecordGate`` checks before it decodes anything.
    """

    worker: str
    body: bytes
    mac: str


def serialize_records(
    worker: str, records: Iterable[RequestRecord], key: bytes | None = None
) -> RecordsPayload:
    body = encode_batch(list(records))
    return RecordsPayload(worker=worker, body=body, mac=sign(key, body) if key else "")


class RecordBuffer:
    """Records completed since the last drain (one per process; gevent makes it race-free)."""

    def __init__(self) -> None:
        self._records: list[RequestRecord] = []

    def add(self, record: RequestRecord) -> None:
        self._records.append(record)

    def drain(self) -> list[RequestRecord]:
        records, self._records = self._records, []
        return records

    def __len__(self) -> int:
        return len(self._records)


class RunWriter:
    """The master's sink: appends records and host samples to the run directory's CSVs."""

    def __init__(self, run_dir: RunDir, *, flush_interval: float = 1.0) -> None:
        self.run_dir = run_dir.create()
        self._requests: CsvAppender = run_dir.open_requests(flush_interval=flush_interval)
        self._samples: CsvAppender = run_dir.open_host_samples(flush_interval=flush_interval)

    @property
    def request_count(self) -> int:
        return self._requests.rows_written

    @property
    def host_sample_count(self) -> int:
        return self._samples.rows_written

    def write_records(self, records: Sequence[RequestRecord]) -> None:
        self._requests.write_text(request_rows_text(records), len(records))

    def write_host_samples(self, samples: list[HostSample]) -> None:
        self._samples.write_rows(sample.to_row() for sample in samples)

    def flush(self) -> None:
        self._requests.flush()
        self._samples.flush()

    def close(self) -> None:
        self._requests.close()
        self._samples.close()
