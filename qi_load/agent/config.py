"""The reference agent's settings: per-type timings, slots, faults; YAML profile + flags."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Final, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from qi_load.errors import QiLoadError
from qi_load.vocabulary import QUERY_TYPES, QueryType
from qi_load.yamlconf import read_yaml_mapping

__all__ = [
    "DEFAULT_TIMINGS",
    "FAULT_KINDS",
    "TOOL_NAMES",
    "FaultKind",
    "TargetConfig",
    "ToolName",
    "TypeTiming",
    "build_config",
    "parse_slow_tool_flag",
    "parse_timing_flag",
]

FaultKind = Literal[
    "http_500_html", "cut_mid_event", "invalid_json", "missing_done", "reset", "stall"
]
ToolName = Literal["calculate", "read_file", "get_weather", "create_calendar_event"]
TOOL_NAMES: Final[tuple[str, ...]] = get_args(ToolName)
FAULT_KINDS: Final[tuple[FaultKind, ...]] = (
    "http_500_html",
    "cut_mid_event",
    "invalid_json",
    "missing_done",
    "reset",
    "stall",
)


class TypeTiming(BaseModel):
    """How the model answers one query type: first token at TTFT, then one token per ITL."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ttft_ms: float = Field(ge=0, description="Time to first token after a slot is granted, ms.")
    itl_ms: float = Field(ge=0, description="Inter-token latency between output tokens, ms.")
    output_tokens: int = Field(ge=1, le=100_000, description="Output tokens (= content chunks).")

    def service_ms(self) -> float:
        """Slot hold time of one request: first token at TTFT, last after N - 1 more gaps."""
        return self.ttft_ms + (self.output_tokens - 1) * self.itl_ms


DEFAULT_TIMINGS: Final[dict[QueryType, TypeTiming]] = {
    "simple": TypeTiming(ttft_ms=150, itl_ms=20, output_tokens=20),
    "code_generation": TypeTiming(ttft_ms=300, itl_ms=15, output_tokens=120),
    "file_operations": TypeTiming(ttft_ms=250, itl_ms=15, output_tokens=60),
    "multi_tool": TypeTiming(ttft_ms=400, itl_ms=15, output_tokens=80),
    "reasoning": TypeTiming(ttft_ms=500, itl_ms=10, output_tokens=300),
}


class TargetConfig(BaseModel):
    """Everything `qi-load target` can be told, from a `--profile` YAML file and/or flags."""

    model_config = ConfigDict(extra="forbid")

    host: str = Field(default="127.0.0.1", description="Interface to bind.")
    port: int = Field(default=8000, ge=0, le=65535, description="TCP port; 0 picks a free one.")
    model: str = Field(default="qi-reference-agent", description="Model id served and echoed.")
    slots: int = Field(default=8, ge=1, le=10_000, description="Concurrent inference slots.")
    queue_limit: int = Field(
        default=128, ge=0, le=100_000, description="Requests waiting for a slot before 429."
    )
    timings: dict[QueryType, TypeTiming] = Field(
        default_factory=lambda: dict(DEFAULT_TIMINGS),
        description="Per query type: TTFT, inter-token time and output tokens.",
    )
    tool_ms: float = Field(
        default=40.0, ge=0, description="Simulated latency of each MCP tool's backend, ms."
    )
    jitter: float = Field(
        default=0.0, ge=0, lt=1, description="Timings vary uniformly by +-this fraction."
    )
    seed: int = Field(default=0, description="Seed of the jitter and fault draws.")
    error_rate: float = Field(default=0.0, ge=0, le=1, description="Share answered HTTP 500.")
    spike_rate: float = Field(default=0.0, ge=0, le=1, description="Share with a latency spike.")
    spike_ms: float = Field(default=1000.0, ge=0, description="Extra TTFT of a spike, ms.")
    drop_rate: float = Field(
        default=0.0, ge=0, le=1, description="Share whose connection is reset mid-stream."
    )
    leak_mb_per_min: float = Field(
        default=0.0, ge=0, le=10_000, description="MB retained per minute (a simulated leak)."
    )
    cache_mb: float = Field(
        default=0.0,
        ge=0,
        le=100_000,
        description="A bounded cache: each request retains 0.5 MB up to this many MB.",
    )
    compute_thread: bool = Field(
        default=False,
        description="A thread burns one core while any request is in flight (as llama.cpp).",
    )
    slowdown: float = Field(
        default=1.0, gt=0, le=1000, description="Multiplies every simulated timing."
    )
    wrong_answers: bool = Field(default=False, description="Answer incorrectly on purpose.")
    max_body_bytes: int = Field(
        default=1024 * 1024, ge=1, description="Larger request bodies are refused with 413."
    )
    access_log: bool = Field(default=False, description="Log every request on stderr.")
    idle_timeout_s: float = Field(
        default=5.0, gt=0, le=3600, description="A connection without a request is closed."
    )
    header_timeout_s: float = Field(
        default=10.0, gt=0, le=3600, description="A request head must arrive within this (408)."
    )
    body_timeout_s: float = Field(
        default=30.0, gt=0, le=3600, description="A request body must arrive within this."
    )
    max_connections: int = Field(
        default=10_000,
        ge=16,
        le=1_000_000,
        description="Open connections served, the agent's own MCP client's included; more "
        "are answered 503 (also bounded by the file descriptor limit).",
    )
    mcp_max_sessions: int = Field(
        default=1000, ge=1, le=100_000, description="Open MCP sessions; more are refused 503."
    )
    mcp_session_idle_s: float = Field(
        default=600.0,
        ge=120,
        le=86_400,
        description="An idle MCP session is ended after this (the agent keeps its own alive).",
    )
    slow_tools: dict[ToolName, Annotated[float, Field(ge=0, le=60_000, allow_inf_nan=False)]] = (
        Field(
            default_factory=dict,
            description="Per tool name: ms of delay per call of that tool in flight (contention).",
        )
    )
    otlp_endpoint: str | None = Field(
        default=None,
        description="OTLP/HTTP base URL (e.g. http://127.0.0.1:4318) to export the agent's "
        "spans to; needs the `otel` extra.",
    )

    def timing(self, query_type: QueryType) -> TypeTiming:
        """The timing of `query_type` with `slowdown` applied."""
        base = self.timings[query_type]
        if self.slowdown == 1.0:
            return base
        return TypeTiming(
            ttft_ms=base.ttft_ms * self.slowdown,
            itl_ms=base.itl_ms * self.slowdown,
            output_tokens=base.output_tokens,
        )


def parse_slow_tool_flag(value: str) -> tuple[str, float]:
    """`NAME=MS` -> (tool, ms per call in flight); QiLoadError if bad."""
    name, sep, number = value.partition("=")
    try:
        per_call_ms = float(number)
    except ValueError:
        per_call_ms = float("nan")
    if not sep or name not in TOOL_NAMES or not 0 <= per_call_ms <= 60_000:
        raise QiLoadError(
            f"--slow-tool {value!r}: expected NAME=MS with NAME one of {', '.join(TOOL_NAMES)} "
            "and MS between 0 and 60000"
        )
    return name, per_call_ms


def parse_timing_flag(value: str) -> tuple[str, TypeTiming]:
    """`TYPE=TTFT_MS,ITL_MS,TOKENS` (TYPE may be `all`) -> (type, timing); QiLoadError if bad."""
    name, sep, numbers = value.partition("=")
    parts = numbers.split(",")
    if not sep or len(parts) != 3 or (name not in QUERY_TYPES and name != "all"):
        raise QiLoadError(
            f"--timing {value!r}: expected TYPE=TTFT_MS,ITL_MS,TOKENS with TYPE one of "
            f"{', '.join(QUERY_TYPES)} or all"
        )
    try:
        timing = TypeTiming(
            ttft_ms=float(parts[0]), itl_ms=float(parts[1]), output_tokens=int(parts[2])
        )
    except (ValueError, ValidationError) as exc:
        reason = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
        raise QiLoadError(f"--timing {value!r}: {reason}") from None
    return name, timing


def _load_profile(path: Path) -> dict[str, Any]:
    return read_yaml_mapping(path, what="agent profile", empty_ok=True).data


def build_config(
    overrides: dict[str, Any],
    *,
    profile: Path | None = None,
    timing_flags: list[str] | None = None,
    slow_tool_flags: list[str] | None = None,
) -> TargetConfig:
    """Profile settings, then flags (only those given), then `--timing` flags; validated."""
    data: dict[str, Any] = _load_profile(profile) if profile is not None else {}
    data.update({key: value for key, value in overrides.items() if value is not None})
    timings: dict[str, Any] = {k: v.model_dump() for k, v in DEFAULT_TIMINGS.items()}
    profile_timings = data.pop("timings", None) or {}
    if not isinstance(profile_timings, dict):
        raise QiLoadError(f"--profile {profile}: timings: expected a mapping of query types")
    for name, value in profile_timings.items():
        if name not in timings:
            raise QiLoadError(
                f"--profile {profile}: timings.{name}: unknown query type "
                f"(expected one of {', '.join(QUERY_TYPES)})"
            )
        timings[name] = {**timings[name], **value} if isinstance(value, dict) else value
    for flag in timing_flags or []:
        name, timing = parse_timing_flag(flag)
        for key in QUERY_TYPES if name == "all" else (name,):
            timings[key] = timing.model_dump()
    data["timings"] = timings
    if slow_tool_flags:
        data["slow_tools"] = {
            **(data.get("slow_tools") or {}),
            **dict(parse_slow_tool_flag(flag) for flag in slow_tool_flags),
        }
    try:
        return TargetConfig.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"])
        source = f"--profile {profile}: " if profile is not None else ""
        value = error.get("input")
        raise QiLoadError(f"{source}{where}: {error['msg']} (got {value!r})") from None
