"""Record types of the run directory, each one field table: names, types, units, docs.

Each record is a dataclass whose fields are annotated with a ``Column``: that one table
drives the CSV header and rows, reading a row back, the wire form, the pandas dtypes the
analysis reads (``qi_load.analyze.load``) and the column lists in docs/.
"""

from __future__ import annotations

import dataclasses
import operator
import types
import typing
from dataclasses import dataclass
from typing import Annotated, Any, Final, Literal, TypedDict, TypeVar, get_args, get_origin

from qi_load.vocabulary import (
    ERROR_KINDS,
    RECORD_QUERY_TYPES,
    ROLES,
    ErrorKind,
    Role,
    TokensSource,
)

__all__ = [
    "HOST_SAMPLE_COLUMNS",
    "HOST_SAMPLE_TABLE",
    "REQUEST_COLUMNS",
    "REQUEST_TABLE",
    "STAGE_MARK_TABLE",
    "Column",
    "HostSample",
    "RequestRecord",
    "StageMark",
    "StageMarkDict",
    "as_written",
    "columns_of",
    "host_sample_from_row",
    "parse_row",
]


def _listed(words: tuple[str, ...]) -> str:
    return ", ".join(f"`{word}`" for word in words)


@dataclass(frozen=True, slots=True)
class Column:
    """One field of a record: what a column holds, and how files and readers treat it."""

    unit: str
    """``ms``, ``unix s``, ``bytes`` ...; empty for labels and flags."""
    doc: str
    """What the column means (the docs' column lists are checked against it)."""
    dtype: str | None = None
    """The pandas dtype analysis reads it as; ``None``: analysis does not read it."""
    late: bool = False
    """Optional to readers: files written before it existed (or by a foreign writer) may
    lack it, which reads as empty."""
    csv: bool = True
    """Written to the CSV file (otherwise only on the wire, e.g. an error message)."""


@dataclass(frozen=True, slots=True)
class Field:
    """A ``Column`` with its record field's name, Python type and default."""

    name: str
    kind: type
    """``float``, ``int``, ``bool`` or ``str`` (a ``Literal`` is a ``str``)."""
    optional: bool
    """``None`` allowed: "not measured", an empty cell."""
    default: Any
    """The dataclass default (``dataclasses.MISSING``: every row needs the column)."""
    column: Column

    @property
    def required(self) -> bool:
        return self.default is dataclasses.MISSING


def columns_of(record: type) -> tuple[Field, ...]:
    """The field table of a record dataclass, in field order."""
    hints = typing.get_type_hints(record, include_extras=True)
    table = []
    for f in dataclasses.fields(record):
        hint = hints[f.name]
        if get_origin(hint) is not Annotated:
            raise TypeError(f"{record.__name__}.{f.name} has no Column annotation")
        base, column = get_args(hint)[:2]
        kind, optional = _kind(base)
        table.append(Field(f.name, kind, optional, f.default, column))
    return tuple(table)


def _kind(hint: Any) -> tuple[type, bool]:
    args = get_args(hint)
    if get_origin(hint) in (typing.Union, types.UnionType):
        (inner,) = [a for a in args if a is not type(None)]
        return _kind(inner)[0], True
    if get_origin(hint) is Literal:
        return type(args[0]), False
    return hint, False


_R = TypeVar("_R")


def parse_row(record: type[_R], row: dict[str, str]) -> _R:
    """Parse one CSV row (as ``csv.DictReader`` reads it) into ``record``.

    A column the file lacks (written before it existed) or an empty cell reads as ``None``
    when the field allows it, else as the field's default; raises ``ValueError`` naming
    the column for a required one that is empty or a cell that does not parse.
    """
    values: dict[str, Any] = {}
    for f in _TABLES[record]:
        if not f.column.csv:
            continue
        text = row.get(f.name) or ""
        if text == "":
            if f.optional:
                values[f.name] = None
            elif not f.required:
                values[f.name] = f.default
            else:
                raise ValueError(f"column {f.name!r} is empty (every row needs it)")
            continue
        try:
            values[f.name] = _PARSE[f.kind](text)
        except ValueError:
            raise ValueError(f"column {f.name!r}: {text!r} is not a {f.kind.__name__}") from None
    return record(**values)


_PARSE: Final[dict[type, Any]] = {
    str: str,
    float: float,
    int: lambda text: int(float(text)),
    bool: lambda text: text.strip().lower() in ("true", "1", "1.0"),
}


@dataclass(slots=True)
class RequestRecord:
    """One request as measured by the client.

    Wall times (``ts_*``) are unix seconds; durations are milliseconds as floats derived
    from ``time.perf_counter()``. ``None`` means "not measured" and is written as an
    empty CSV cell. Columns added later go last: older run directories lack them.
    """

    ts_sched: Annotated[
        float,
        Column("unix s", "intended start (open loop); equals `ts_start` in closed loop", "float64"),
    ]
    ts_start: Annotated[
        float,
        Column(
            "unix s",
            "when the request was sent (its first attempt, when it was retried)",
            "float64",
        ),
    ]
    worker: Annotated[str, Column("", "the Locust worker id (`local` in one-process runs)")]
    user_id: Annotated[int, Column("", "the virtual user's number within its worker")]
    query_type: Annotated[
        str,
        Column(
            "",
            _listed(RECORD_QUERY_TYPES),
            "category",
        ),
    ]
    name: Annotated[str, Column("", "the request's name (the query type, or the MCP method)")]
    conversation_id: Annotated[
        str, Column("", "multi-turn conversations: which one (empty for single requests)")
    ] = ""
    turn: Annotated[int, Column("", "multi-turn conversations: the turn (1-based)")] = 0
    stage: Annotated[str, Column("", "the stage in force at `ts_start`")] = ""
    users: Annotated[
        int,
        Column(
            "",
            "the planned total users at `ts_start`; after a lost worker, until its users are "
            "back, the users that really ran",
            "float32",
        ),
    ] = 0
    ok: Annotated[
        bool,
        Column(
            "",
            "`true` when the request completed at the protocol level, whatever its answer "
            "(in every `--quality` mode)",
            "category",
        ),
    ] = True
    error_kind: Annotated[
        ErrorKind,
        Column(
            "",
            _listed(ERROR_KINDS) + " (what each means: "
            "[metrics.md](metrics.md#failures-error_kind); `cancelled`: in flight when its "
            "test ended, `e2e_ms` is the time it had run, kept out of every figure but its "
            "stage's counts). A wrong answer is not an error: see `quality_ok`",
            "category",
        ),
    ] = "none"
    status_code: Annotated[int, Column("", "HTTP status (0 when no response)")] = 0
    ttft_ms: Annotated[
        float | None,
        Column(
            "ms", "time to the first token of any kind (content, reasoning or tool call)", "float64"
        ),
    ] = None
    e2e_ms: Annotated[
        float | None,
        Column(
            "ms",
            "sent to the end of the answer (for a failed or cancelled request: the time it "
            "had run)",
            "float64",
        ),
    ] = None
    tpot_ms: Annotated[
        float | None,
        Column(
            "ms",
            "time per output token after the first; empty when fewer than two tokens",
            "float64",
        ),
    ] = None
    itl_p50_ms: Annotated[
        float | None,
        Column("ms", "median gap between consecutive token-bearing events", "float64", late=True),
    ] = None
    itl_max_ms: Annotated[
        float | None, Column("ms", "longest gap between consecutive token-bearing events")
    ] = None
    output_tokens: Annotated[int | None, Column("tokens", "tokens in the answer", "float32")] = None
    input_tokens: Annotated[int | None, Column("tokens", "tokens in the prompt")] = None
    tokens_source: Annotated[
        TokensSource,
        Column(
            "",
            "where the token counts come from: `usage` (server-reported) or `events` "
            "(counted token-bearing events)",
        ),
    ] = ""
    tool_calls: Annotated[
        int,
        Column(
            "",
            "distinct tool calls in the answer (streamed fragments of one call count once)",
        ),
    ] = 0
    quality_ok: Annotated[
        bool | None,
        Column(
            "",
            "`true`/`false`: the answer passed every check of its query that applies to the "
            "target; empty when no check ran (failed request, `--quality off`, or no "
            "applicable check)",
            "category",
        ),
    ] = None
    srv_request_ms: Annotated[
        float | None,
        Column(
            "ms",
            "the server's own time for the whole request, when it reports its phases",
            "float32",
        ),
    ] = None
    srv_tool_ms: Annotated[
        float | None,
        Column("ms", "the server's time in tool calls, when it reports its phases", "float32"),
    ] = None
    srv_llm_ms: Annotated[
        float | None,
        Column("ms", "the server's time in the model, when it reports its phases", "float32"),
    ] = None
    srv_format_ms: Annotated[
        float | None,
        Column(
            "ms", "the server's time formatting the answer, when it reports its phases", "float32"
        ),
    ] = None
    bytes: Annotated[int, Column("bytes", "response body bytes")] = 0
    ttfc_ms: Annotated[
        float | None,
        Column(
            "ms",
            "time to the first token of answer content (after any reasoning or tool calls); "
            "empty when no content arrived",
            "float64",
            late=True,
        ),
    ] = None
    retries: Annotated[
        int,
        Column(
            "",
            "times the request was resent on a fresh connection because its kept-alive one "
            "was dead before any response byte (0 or 1)",
            "float32",
            late=True,
        ),
    ] = 0
    trace_id: Annotated[
        str,
        Column(
            "",
            "the W3C trace id sent in the request's traceparent (empty with "
            "--no-trace-context); the agent's spans in spans.csv carry it",
            "string",
            late=True,
        ),
    ] = ""
    error: Annotated[
        str, Column("", "the failure's message, for Locust's failure table", csv=False)
    ] = ""

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


REQUEST_TABLE: Final = columns_of(RequestRecord)
REQUEST_COLUMNS: Final[tuple[str, ...]] = tuple(f.name for f in REQUEST_TABLE if f.column.csv)
_REQUEST_FIELDS: Final = tuple(f.name for f in REQUEST_TABLE)
_REQUEST_ALL: Final = operator.attrgetter(*_REQUEST_FIELDS)
_REQUEST_ROW: Final = operator.attrgetter(*REQUEST_COLUMNS)


@dataclass(slots=True)
class HostSample:
    """One psutil sample of a process (with its children summed) and of its host.

    Byte and count columns are cumulative counters as psutil reports them; rates are
    derived at analysis time (docs/monitoring.md says how each is measured).
    """

    ts: Annotated[float, Column("unix s", "when the process's CPU counters were read", "float64")]
    host: Annotated[str, Column("", "the sampled machine's label", "category")]
    role: Annotated[Role, Column("", _listed(ROLES) + " (see Roles)", "category")]
    pid: Annotated[int, Column("", "the process id", "int64")]
    cpu_percent: Annotated[
        float,
        Column(
            "%",
            "CPU of the process and all its descendants since the previous sample; 100 = one "
            "core busy. Under a cgroup CPU quota it is relative to the quota (100 = the whole "
            "quota)",
            "float32",
        ),
    ]
    rss_bytes: Annotated[
        int,
        Column(
            "bytes",
            "resident memory, process + descendants (reports show MB = 10⁶ bytes, "
            "`qi_load.units.MB`)",
            "float64",
        ),
    ]
    num_threads: Annotated[int, Column("count", "threads, summed over the tree")] = 0
    num_fds: Annotated[int, Column("count", "open file descriptors, summed over the tree")] = 0
    read_bytes: Annotated[
        int,
        Column(
            "bytes, cumulative",
            "block reads (`/proc/<pid>/io`; 0 when not permitted, e.g. another user's process)",
            "float64",
        ),
    ] = 0
    write_bytes: Annotated[
        int,
        Column(
            "bytes, cumulative",
            "block writes (`/proc/<pid>/io`; 0 when not permitted)",
            "float64",
        ),
    ] = 0
    net_sent_bytes: Annotated[
        int,
        Column(
            "bytes, cumulative",
            "**host-wide** bytes sent: `psutil.net_io_counters()` of the sampler's network "
            "namespace (the whole machine on bare metal, the whole pod in Kubernetes). Linux "
            "cannot attribute traffic to a process; `/proc/<pid>/net/dev` is per namespace too",
            "float64",
        ),
    ] = 0
    net_recv_bytes: Annotated[
        int,
        Column("bytes, cumulative", "**host-wide** bytes received, as `net_sent_bytes`", "float64"),
    ] = 0
    host_cpu_percent: Annotated[
        float,
        Column(
            "%",
            "whole machine, 100 = every core busy (from `/proc/stat`, not quota-adjusted)",
            "float32",
        ),
    ] = 0.0
    host_mem_available_bytes: Annotated[
        int, Column("bytes", "`MemAvailable` of the machine", "float64")
    ] = 0
    cpu_user_s: Annotated[
        float,
        Column(
            "s, cumulative",
            "user CPU time of the live tree plus reaped children (may step down when a child "
            "exits)",
        ),
    ] = 0.0
    cpu_system_s: Annotated[float, Column("s, cumulative", "system CPU time, as `cpu_user_s`")] = (
        0.0
    )
    ctx_switches: Annotated[
        int,
        Column("count, cumulative", "voluntary + involuntary context switches of the tree"),
    ] = 0
    cpu_quota_cores: Annotated[
        float | None,
        Column("cores", "the cgroup quota that applied, empty when none", "float32", late=True),
    ] = None
    name: Annotated[str, Column("", "the process name", "category", late=True)] = ""
    usable_cores: Annotated[
        float | None,
        Column(
            "cores",
            "the cores the process may run on: its CPU affinity "
            "(`psutil.Process.cpu_affinity`; all cores where it cannot be read), capped by "
            "the quota. The report judges the target's CPU against it",
            "float32",
            late=True,
        ),
    ] = None
    host_cores: Annotated[
        int,
        Column(
            "count",
            "the host's logical cores, so `host_cpu_percent` converts to cores "
            "(noisy-neighbour check)",
            "float32",
            late=True,
        ),
    ] = 0
    greenlets: Annotated[
        int | None,
        Column(
            "count",
            "live greenlets of a Locust process (master, worker, local) created since its "
            "start-up; empty unless counted (`QI_LOAD_COUNT_GREENLETS=1`, for soak checks)",
            "float32",
            late=True,
        ),
    ] = None

    def to_row(self) -> list[Any]:
        return [_cell(getattr(self, name)) for name in HOST_SAMPLE_COLUMNS]

    def to_wire(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> HostSample:
        return cls(**data)


HOST_SAMPLE_TABLE: Final = columns_of(HostSample)
HOST_SAMPLE_COLUMNS: Final[tuple[str, ...]] = tuple(f.name for f in HOST_SAMPLE_TABLE)


class StageMarkDict(TypedDict):
    """A stage mark's wire form: an entry of ``run.json``'s ``stages``."""

    index: int
    name: str
    users: int
    start: float
    ramp_end: float
    end: float
    invalid: str | None


@dataclass(slots=True)
class StageMark:
    """Boundaries of one stage as it actually ran."""

    index: Annotated[int, Column("", "the stage's position in the plan (0-based)")]
    name: Annotated[str, Column("", "the stage's name")]
    users: Annotated[int, Column("", "the planned total users")]
    start: Annotated[float, Column("unix s", "the stage began (its ramp starts)")]
    ramp_end: Annotated[float, Column("unix s", "the ramp to `users` ended")]
    end: Annotated[float, Column("unix s", "the stage ended")]
    invalid: Annotated[
        str | None,
        Column(
            "",
            "`null`, or why the stage must not be trusted (e.g. a saturated load generator)",
            late=True,
        ),
    ] = None

    def to_dict(self) -> StageMarkDict:
        return StageMarkDict(
            index=self.index,
            name=self.name,
            users=self.users,
            start=self.start,
            ramp_end=self.ramp_end,
            end=self.end,
            invalid=self.invalid,
        )


STAGE_MARK_TABLE: Final = columns_of(StageMark)
_TABLES: Final[dict[type, tuple[Field, ...]]] = {
    RequestRecord: REQUEST_TABLE,
    HostSample: HOST_SAMPLE_TABLE,
    StageMark: STAGE_MARK_TABLE,
}

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


def host_sample_from_row(row: dict[str, str]) -> HostSample:
    """Parse one ``host_samples.csv`` row (as read by ``csv.DictReader``)."""
    return parse_row(HostSample, row)
