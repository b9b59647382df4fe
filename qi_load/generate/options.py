"""Every qi-load option of a Locust process, defined once: name, type, default and help
(the allowed range of a number is ``validation.NUMBER_OPTIONS``'s).

``LoadOptions`` is the one model. Locust's parser gets its arguments from it
(``add_arguments``), ``qi-load run`` exposes the fields marked ``run`` under the same names
and hands them on with ``to_args``, and each Locust process reads its parsed options into
it once, at ``init`` (``from_namespace``), and keeps the result on its run state.
"""

from __future__ import annotations

import argparse
import typing
from collections.abc import Callable, Collection
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.fields import FieldInfo

from qi_load.errors import QiLoadError
from qi_load.generate.quality import DEFAULT_QUALITY_MODE, QualityMode
from qi_load.monitor.saturation import DEFAULT_MIN_SECONDS, DEFAULT_THRESHOLD_PCT

__all__ = [
    "CHAT",
    "GROUPS",
    "LOOPBACK",
    "MCP",
    "MONITORING",
    "QI_LOAD",
    "LoadOptions",
    "add_arguments",
    "flag",
    "run_options",
]

MONITORING: Final = "qi-load monitoring"
QI_LOAD: Final = "qi-load"
CHAT: Final = "qi-load chat requests"
MCP: Final = "qi-load MCP users"
GROUPS: Final = (MONITORING, QI_LOAD, CHAT)
LOOPBACK: Final = "127.0.0.1"
"""Where the sample, metrics and OTLP ports listen unless told otherwise: /metrics and OTLP
authenticate nobody and the sample port only with QI_LOAD_INGEST_KEY, so they stay off the
network."""
"""The groups every qi-load locustfile has (MCP users add ``MCP``)."""


def _opt(
    default: Any, help: str, group: str, *, run: bool = False, metavar: str = "", **kw: Any
) -> Any:
    """A field of ``LoadOptions``: ``run`` marks the options ``qi-load run`` also takes."""
    extra: dict[str, Any] = {"group": group, "run": run}
    if metavar:
        extra["metavar"] = metavar
    if isinstance(default, list):
        return Field(default_factory=list, description=help, json_schema_extra=extra, **kw)
    return Field(default=default, description=help, json_schema_extra=extra, **kw)


class LoadOptions(BaseModel):
    """The qi-load options a Locust process runs with (defaults: a plain Locust run)."""

    # The schema is built at the first validation: `qi-load` builds its parsers from the
    # fields alone at every start.
    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)

    # -- what to sample and serve -------------------------------------------------------
    monitor_pid: list[int] = _opt(
        [], "also sample this PID and its children as role 'sut' (repeatable)", MONITORING,
        run=True, metavar="PID",
    )  # fmt: skip
    monitor_name: list[str] = _opt(
        [], "sample processes with this name / command-line part as 'sut' (repeatable)",
        MONITORING, run=True, metavar="NAME",
    )  # fmt: skip
    monitor_target_pid: list[int] = _opt(
        [], "sample this PID as role 'target' (qi-load run passes the embedded agent's)",
        MONITORING, metavar="PID",
    )  # fmt: skip
    monitor_interval: float = _opt(
        0.0, "seconds between host samples (0: the scenario's, else 1)", MONITORING, run=True,
    )  # fmt: skip
    monitor_port: int = _opt(
        0, "master: ZeroMQ PULL port for `qi-load monitor` sidecars (0: off; k8s uses 5558)",
        MONITORING, run=True,
    )  # fmt: skip
    metrics_port: int = _opt(
        0, "master: serve live Prometheus /metrics on this port (0: off)", MONITORING,
        run=True,
    )  # fmt: skip
    otlp_port: int = _opt(
        0, "master: receive the agent's spans over OTLP/HTTP on this port (POST /v1/traces) "
        "into the run's spans.csv (0: off)", MONITORING, run=True,
    )  # fmt: skip
    monitor_bind_host: str = _opt(
        LOOPBACK, "interface --monitor-port, --metrics-port and --otlp-port listen on (default "
        "127.0.0.1: this host only; 0.0.0.0: all, for sidecars, Prometheus and an agent on "
        "other hosts)", MONITORING,
    )  # fmt: skip
    saturation_threshold: float = _opt(
        DEFAULT_THRESHOLD_PCT,
        f"a generator at or above this CPU % invalidates its stage (default "
        f"{DEFAULT_THRESHOLD_PCT:g})", MONITORING,
    )  # fmt: skip
    saturation_seconds: float = _opt(
        DEFAULT_MIN_SECONDS,
        f"... when it stays there this many seconds (default {DEFAULT_MIN_SECONDS:g})",
        MONITORING,
    )  # fmt: skip

    # -- the run ------------------------------------------------------------------------
    scenario: str = _opt(
        "", "qi-load scenario: a YAML file or a packaged name (e.g. quick-ladder); its shape "
        "then sets users and duration. Without it, Locust's -u/-r/-t drive the run with an "
        "even query-type mix.", QI_LOAD,
    )  # fmt: skip
    time_scale: float = _opt(
        0.0, "multiply every scenario duration by this factor (0: the scenario's own)", QI_LOAD,
        run=True,
    )  # fmt: skip
    run_id: str = _opt("", "run id (default: timestamp-scenario)", QI_LOAD, run=True)
    run_dir: str = _opt("", "run directory to write (default: reports/<run-id>/)", QI_LOAD)
    qi_report: bool = _opt(False, "render the report (qi-load report) when Locust quits", QI_LOAD)
    qi_progress: float = _opt(0.0, "print a progress line every N seconds (0: off)", QI_LOAD)
    no_preflight: bool = _opt(
        False, "skip the preflight: one request per protocol before the ramp, which stops a "
        "run against a wrong port, path, key or model at once (exit 2)", QI_LOAD, run=True,
    )  # fmt: skip
    queries: str = _opt(
        "", "YAML file with extra prompts and quality checks per query type", QI_LOAD
    )
    quality: QualityMode = _opt(
        DEFAULT_QUALITY_MODE, "answer checks: 'record' runs them and records quality_ok; "
        "'enforce' also reports a failed check to Locust as a failure; 'off' runs none "
        f"(default: {DEFAULT_QUALITY_MODE})", QI_LOAD, run=True,
    )  # fmt: skip
    reference_agent: bool = _opt(
        False, "the target is qi-load's reference agent (or serves its sandbox files and "
        "tools): run the file_operations and multi_tool checks tied to them on every answer "
        "(without it: on answers whose response carries x-qi-load-agent: reference)", QI_LOAD,
    )  # fmt: skip

    # -- how chat requests are sent -----------------------------------------------------
    model: str = _opt(
        "", "model name sent in chat requests (default: the scenario's, else qi-agent)", CHAT,
        run=True,
    )  # fmt: skip
    max_tokens: int = _opt(
        0, "max_tokens sent in each chat request (0: the scenario's; without either none is "
        "sent and the server's own limit applies)", CHAT, run=True,
    )  # fmt: skip
    connect_timeout: float = _opt(10.0, "connect timeout in seconds", CHAT)
    first_byte_timeout: float = _opt(60.0, "timeout until the first response byte in seconds", CHAT)
    request_timeout: float = _opt(120.0, "total timeout of one request in seconds", CHAT)
    no_stream: bool = _opt(False, "use non-streaming chat completions", CHAT)
    no_trace_context: bool = _opt(
        False, "send no W3C traceparent/baggage headers (by default each request starts a "
        "trace whose id requests.csv keeps, so the agent's spans join it)", CHAT,
    )  # fmt: skip

    # -- MCP users ----------------------------------------------------------------------
    mcp_url: str = _opt("", "MCP endpoint (default: HOST/mcp)", MCP)
    mcp_call: list[str] = _opt(
        [], "a tool to call with these arguments (repeatable; adds to the built-in ones)", MCP,
        metavar="NAME=JSON",
    )  # fmt: skip
    mcp_session_calls: int = _opt(
        20, "tool calls per MCP session before a new initialize (default 20)", MCP
    )

    @classmethod
    def from_namespace(cls, parsed: argparse.Namespace | None) -> LoadOptions:
        """Parsed options (Locust's or ``qi-load run``'s) as the model; options a parser did
        not define keep their defaults; a value of the wrong type is a one-line ``QiLoadError``
        (ranges are ``validation.check_options``'s, checked before)."""
        values = {k: v for k, v in vars(parsed or argparse.Namespace()).items() if v is not None}
        try:
            return cls.model_validate({k: v for k, v in values.items() if k in cls.model_fields})
        except ValidationError as exc:
            error = exc.errors()[0]
            name = str(error["loc"][0]) if error["loc"] else ""
            raise QiLoadError(f"{flag(name)} {values.get(name)!r}: {error['msg']}") from None

    def to_args(self, names: Collection[str]) -> list[str]:
        """The options ``names`` that differ from their defaults, as command-line arguments."""
        args: list[str] = []
        for name in names:
            value, default = getattr(self, name), _default(type(self).model_fields[name])
            if value == default:
                continue
            if isinstance(value, bool):
                args.append(flag(name))
            elif isinstance(value, list):
                for item in value:
                    args += [flag(name), str(item)]
            else:
                args += [flag(name), str(value)]
        return args


def flag(name: str) -> str:
    """The command-line flag of option ``name``."""
    return "--" + name.replace("_", "-")


def _default(info: FieldInfo) -> Any:
    return [] if info.default_factory is not None else info.default


def _extra(info: FieldInfo) -> dict[str, Any]:
    extra = info.json_schema_extra
    return extra if isinstance(extra, dict) else {}


def run_options() -> list[str]:
    """The options ``qi-load run`` takes itself and hands on to Locust."""
    return [name for name, info in LoadOptions.model_fields.items() if _extra(info)["run"]]


def add_arguments(
    parser: Any,
    groups: Collection[str],
    *,
    only: Callable[[str], bool] = lambda _name: True,
    actions: dict[str, type[argparse.Action]] | None = None,
    grouped: bool = True,
) -> None:
    """Add the options of ``groups`` (those ``only`` accepts) to an argparse parser, each
    with its flag, type, default and help; ``actions`` replaces an option's store action."""
    targets: dict[str, Any] = {}
    for name, info in LoadOptions.model_fields.items():
        group = _extra(info)["group"]
        if group not in groups or not only(name):
            continue
        if group not in targets:
            targets[group] = parser.add_argument_group(group) if grouped else parser
        targets[group].add_argument(flag(name), **_argument(name, info, actions or {}))


def _argument(
    name: str, info: FieldInfo, actions: dict[str, type[argparse.Action]]
) -> dict[str, Any]:
    kind = info.annotation
    help = (info.description or "").replace("%", "%%")  # argparse formats help with %
    spec: dict[str, Any] = {"default": _default(info), "help": help}
    if "metavar" in _extra(info):
        spec["metavar"] = _extra(info)["metavar"]
    if kind is bool:
        spec["action"] = "store_true"
    elif typing.get_origin(kind) is list:
        (item,) = typing.get_args(kind)
        spec.update(action="append", type=item)
    elif typing.get_origin(kind) is Literal:
        spec["choices"] = typing.get_args(kind)
    elif isinstance(kind, type) and kind is not str:
        spec["type"] = kind
    if name in actions:
        spec["action"] = actions[name]
    return spec
