"""Record types of the run directory: fields, units and CSV columns, plus their wire forms."""

from __future__ import annotations

import dataclasses
import operator
from dataclasses import dataclass, field
from typing import Any, Final, Literal, TypedDict

__all__ = [
    "HOST_SAMPLE_COLUMNS",
    "QUERY_TYPES",
    "REQUEST_COLUMNS",
    "ErrorKind",
    "HostSample",
    "QueryType",
    "RequestRecord",
    "Role",
    "StageMark",
    "StageMarkDict",
    "as_written",
    "host_sample_from_row",
    "request_record_from_row",
]

QueryType = Literal["simple", "code_generation", "file_operations", "multi_tool", "reasoning"]
"""The methodology's query types (the reference agent's classes, the catalogue's keys)."""
QUERY_TYPES: Final[tuple[QueryType, ...]] = (
    "simple",
    "code_generation",
    "file_operations",
    "multi_tool",
    "reasoning",
)

ErrorKind = Literal["none", "connect", "timeout", "http", "protocol", "cancelled"]
"""How a request failed at the protocol level; a wrong answer is not one (see ``quality_ok``).
``cancelled``: in flight when Locust stopped its user (end of a test, ramp-down)."""

Role = Literal["master", "worker", "target", "sut", "local"]


@dataclass(slots=True)
class RequestRecord:
    """One request as measured by the client.

    Wall times (``ts_*``) are unix seconds; durations are milliseconds as floats derived
    from ``time.perf_counter()``. ``None`` means "not measured" and is written as an
    empty CSV cell.
    """

    ts_sched: float
    ts_start: float
    worker: str
    user_id: int
    query_type: str
    name: str
    conversation_id: str = ""
    turn: int = 0
    stage: str = ""
    users: int = 0
    ok: bool = True
    error_kind: ErrorKind = "none"
    status_code: int = 0
    ttft_ms: float | None = None
    e2e_ms: float | None = None
    tpot_ms: float | None = None
    itl_p50_ms: float | None = None
    itl_max_ms: float | None = None
    output_tokens: int | None = None
    input_tokens: int | None = None
    tokens_source: Literal["usage", "events", ""] = ""
    tool_calls: int = 0
    quality_ok: bool | None = None
    srv_request_ms: float | None = None
    srv_tool_ms: float | None = None
    srv_llm_ms: float | None = None
    srv_format_ms: float | None = None
    bytes: int = 0
    ttfc_ms: float | None = None
    retries: int = 0
    error: str = field(default="", metadata={"csv": False})

    def to_row(self) -> list[Any]:
        """The CSV row in ``REQUEST_COLUMNS`` order (``None`` becomes an empty cell)."""
        # _cell inlined: this runs for every request, 30 cells each.
        return [
            _FLOAT_CELL(v)
            if type(v) is float
            else ("" if v is None else (("false", "true")[v] if type(v) is bool else v))
            for v in _REQUEST_ROW(self)
        ]

    def to_wire(self) -> dict[str, Any]:
        """A msgpack/JSON-safe dict for shipping from a worker to the master."""
        # Every field is a scalar: no need for dataclasses.asdict's deep copy (10x slower).
        return dict(zip(_REQUEST_FIELDS, _REQUEST_ALL(self), strict=True))

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> RequestRecord:
        return cls(**data)


REQUEST_COLUMNS: Final[tuple[str, ...]] = tuple(
    f.name for f in dataclasses.fields(RequestRecord) if f.metadata.get("csv", True)
)
_REQUEST_FIELDS: Final = tuple(f.name for f in dataclasses.fields(RequestRecord))
_REQUEST_ALL: Final = operator.attrgetter(*_REQUEST_FIELDS)
_REQUEST_ROW: Final = operator.attrgetter(*REQUEST_COLUMNS)


@dataclass(slots=True)
class HostSample:
    """One psutil sample of a process (with its children summed) and of its host.

    ``cpu_percent`` is relative to one core (100 = one core busy), divided by the cgroup
    CPU quota when one applies (then 100 = the whole quota); ``cpu_quota_cores`` records it.
    ``usable_cores`` is what the process may run on (its CPU affinity, capped by the quota);
    ``host_cores`` the host's logical cores, so host CPU converts to cores.
    Byte and count columns are cumulative counters as psutil reports them; rates are
    derived at analysis time.
    """

    ts: float
    host: str
    role: Role
    pid: int
    cpu_percent: float
    rss_bytes: int
    num_threads: int = 0
    num_fds: int = 0
    read_bytes: int = 0
    write_bytes: int = 0
    net_sent_bytes: int = 0
    net_recv_bytes: int = 0
    host_cpu_percent: float = 0.0
    host_mem_available_bytes: int = 0
    cpu_user_s: float = 0.0
    cpu_system_s: float = 0.0
    ctx_switches: int = 0
    cpu_quota_cores: float | None = None
    name: str = ""
    usable_cores: float | None = None
    host_cores: int = 0

    def to_row(self) -> list[Any]:
        return [_cell(getattr(self, name)) for name in HOST_SAMPLE_COLUMNS]

    def to_wire(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> HostSample:
        return cls(**data)


HOST_SAMPLE_COLUMNS: Final[tuple[str, ...]] = tuple(f.name for f in dataclasses.fields(HostSample))


class StageMarkDict(TypedDict):
    index: int
    name: str
    users: int
    start: float
    ramp_end: float
    end: float


@dataclass(slots=True)
class StageMark:
    """Boundaries of one stage as it actually ran (unix seconds)."""

    index: int
    name: str
    users: int
    start: float
    ramp_end: float
    end: float

    def to_dict(self) -> StageMarkDict:
        return StageMarkDict(
            index=self.index,
            name=self.name,
            users=self.users,
            start=self.start,
            ramp_end=self.ramp_end,
            end=self.end,
        )


_FLOAT_CELL: Final = "%.4f".__mod__
"""0.1 µs resolution for milliseconds, 0.1 ms for unix seconds; 3x faster than repr(round())."""


def as_written(value: float) -> float:
    """``value`` as a CSV cell holds it: live views then agree with reports read from the file."""
    return float(_FLOAT_CELL(value))


def _cell(value: Any) -> Any:
    # Rows are written for every request: test the exact type, most frequent first.
    kind = type(value)
    if kind is float:
        return _FLOAT_CELL(value)
    if value is None:
        return ""
    if kind is bool:
        return "true" if value else "false"
    return value


def _parse_bool(text: str) -> bool | None:
    if text == "":
        return None
    return text.lower() in ("true", "1")


def _parse_opt_float(text: str) -> float | None:
    return None if text == "" else float(text)


def _parse_opt_int(text: str) -> int | None:
    return None if text == "" else int(float(text))


def request_record_from_row(row: dict[str, str]) -> RequestRecord:
    """Parse one ``requests.csv`` row (as read by ``csv.DictReader``)."""
    return RequestRecord(
        ts_sched=float(row["ts_sched"]),
        ts_start=float(row["ts_start"]),
        worker=row["worker"],
        user_id=int(row["user_id"]),
        query_type=row["query_type"],
        name=row["name"],
        conversation_id=row["conversation_id"],
        turn=int(row["turn"] or 0),
        stage=row["stage"],
        users=int(row["users"] or 0),
        ok=bool(_parse_bool(row["ok"])),
        error_kind=row["error_kind"],  # type: ignore[arg-type]
        status_code=int(row["status_code"] or 0),
        ttft_ms=_parse_opt_float(row["ttft_ms"]),
        e2e_ms=_parse_opt_float(row["e2e_ms"]),
        tpot_ms=_parse_opt_float(row["tpot_ms"]),
        itl_p50_ms=_parse_opt_float(row["itl_p50_ms"]),
        itl_max_ms=_parse_opt_float(row["itl_max_ms"]),
        output_tokens=_parse_opt_int(row["output_tokens"]),
        input_tokens=_parse_opt_int(row["input_tokens"]),
        tokens_source=row["tokens_source"],  # type: ignore[arg-type]
        tool_calls=int(row["tool_calls"] or 0),
        quality_ok=_parse_bool(row["quality_ok"]),
        srv_request_ms=_parse_opt_float(row["srv_request_ms"]),
        srv_tool_ms=_parse_opt_float(row["srv_tool_ms"]),
        srv_llm_ms=_parse_opt_float(row["srv_llm_ms"]),
        srv_format_ms=_parse_opt_float(row["srv_format_ms"]),
        bytes=int(row["bytes"] or 0),
        # Columns added later go last; older run directories lack them.
        ttfc_ms=_parse_opt_float(row.get("ttfc_ms") or ""),
        retries=int(row.get("retries") or 0),
    )


def host_sample_from_row(row: dict[str, str]) -> HostSample:
    """Parse one ``host_samples.csv`` row (as read by ``csv.DictReader``)."""
    return HostSample(
        ts=float(row["ts"]),
        host=row["host"],
        role=row["role"],  # type: ignore[arg-type]
        pid=int(row["pid"]),
        cpu_percent=float(row["cpu_percent"]),
        rss_bytes=int(row["rss_bytes"]),
        num_threads=int(row["num_threads"] or 0),
        num_fds=int(row["num_fds"] or 0),
        read_bytes=int(row["read_bytes"] or 0),
        write_bytes=int(row["write_bytes"] or 0),
        net_sent_bytes=int(row["net_sent_bytes"] or 0),
        net_recv_bytes=int(row["net_recv_bytes"] or 0),
        host_cpu_percent=float(row["host_cpu_percent"] or 0),
        host_mem_available_bytes=int(row["host_mem_available_bytes"] or 0),
        cpu_user_s=float(row["cpu_user_s"] or 0),
        cpu_system_s=float(row["cpu_system_s"] or 0),
        ctx_switches=int(row["ctx_switches"] or 0),
        cpu_quota_cores=_parse_opt_float(row["cpu_quota_cores"]),
        name=row["name"],
        usable_cores=_parse_opt_float(row.get("usable_cores") or ""),
        host_cores=int(row.get("host_cores") or 0),
    )
