"""Options that ``qi-load run`` and the Locust plugin both read, defined once for both.

Light on purpose: the CLI builds every parser at start-up, so nothing heavy is imported
here. ``qi-load run`` passes its own on to the Locust master under the same names, and reads
the chat options after ``--`` to send its preflight request exactly as the users will.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from qi_load.generate.chat import ChatConfig
    from qi_load.scenario import Scenario

__all__ = [
    "PREFLIGHT_FAILURE_PREFIX",
    "add_chat_options",
    "add_mcp_url_option",
    "add_monitor_target_options",
    "add_preflight_option",
    "add_queries_option",
    "add_run_id_option",
    "add_time_scale_option",
    "chat_config",
    "mcp_url",
    "monitor_target_args",
]


PREFLIGHT_FAILURE_PREFIX: Final = "qi-load preflight:"
"""Start of the one stderr line a failed preflight leaves (``qi-load run`` looks for it)."""


def add_preflight_option(parser: Any) -> None:
    """``--no-preflight``: skip the request per protocol sent before the ramp."""
    parser.add_argument(
        "--no-preflight",
        action="store_true",
        default=False,
        help="skip the preflight: one request per protocol before the ramp, which stops a "
        "run against a wrong port, path, key or model at once (exit 2)",
    )


def add_queries_option(parser: Any) -> None:
    """``--queries``: a YAML file of extra prompts and checks (``qi_load.generate.queries``)."""
    parser.add_argument(
        "--queries",
        default="",
        help="YAML file with extra prompts and quality checks per query type",
    )


def add_run_id_option(parser: Any) -> None:
    """``--run-id``: the run directory's name."""
    parser.add_argument("--run-id", default="", help="run id (default: timestamp-scenario)")


def add_time_scale_option(parser: Any) -> None:
    """``--time-scale``: stretch or shrink the scenario's stages."""
    parser.add_argument(
        "--time-scale",
        type=float,
        default=0.0,
        help="multiply every scenario duration by this factor (0: the scenario's own)",
    )


def add_monitor_target_options(parser: Any) -> None:
    """``--monitor-pid`` and ``--monitor-name``: the system under test on this host (``sut``)."""
    parser.add_argument(
        "--monitor-pid",
        type=int,
        action="append",
        default=[],
        metavar="PID",
        help="also sample this PID and its children as role 'sut' (repeatable)",
    )
    parser.add_argument(
        "--monitor-name",
        action="append",
        default=[],
        metavar="NAME",
        help="sample processes with this name / command-line part as 'sut' (repeatable)",
    )


def monitor_target_args(pids: list[int], names: list[str]) -> list[str]:
    """The same choices as Locust arguments (what ``qi-load run`` passes its master)."""
    args: list[str] = []
    for pid in pids:
        args += ["--monitor-pid", str(pid)]
    for name in names:
        args += ["--monitor-name", name]
    return args


def add_chat_options(parser: Any) -> None:
    """How the agent users' chat requests are sent (read by ``chat_config``)."""
    parser.add_argument("--model", default="", help="Model name sent in chat requests")
    parser.add_argument(
        "--request-timeout",
        type=float,
        default=120.0,
        help="Total timeout of one request in seconds",
    )
    parser.add_argument(
        "--first-byte-timeout",
        type=float,
        default=60.0,
        help="Timeout until the first response byte in seconds",
    )
    parser.add_argument(
        "--connect-timeout", type=float, default=10.0, help="Connect timeout in seconds"
    )
    parser.add_argument(
        "--no-stream",
        action="store_true",
        default=False,
        help="Use non-streaming chat completions",
    )


def add_mcp_url_option(parser: Any) -> None:
    parser.add_argument("--mcp-url", default="", help="MCP endpoint (default: HOST/mcp)")


def chat_config(options: Any, scenario: Scenario | None, host: str) -> ChatConfig:
    """The chat client settings every agent user (and the preflight) sends with."""
    # Imported when called: the CLI loads this module for the option definitions alone.
    from qi_load.generate.chat import ChatConfig

    model = getattr(options, "model", "") or (scenario.model if scenario else None)
    return ChatConfig(
        base_url=host,
        model=model or ChatConfig.model_fields["model"].default,
        stream=not bool(getattr(options, "no_stream", False)),
        connect_timeout=float(getattr(options, "connect_timeout", 10.0)),
        first_byte_timeout=float(getattr(options, "first_byte_timeout", 60.0)),
        total_timeout=float(getattr(options, "request_timeout", 120.0)),
        max_tokens=scenario.max_tokens if scenario else None,
    )


def mcp_url(options: Any, host: str) -> str:
    """The MCP endpoint the users (and the preflight) talk to: ``--mcp-url``, else HOST/mcp."""
    return getattr(options, "mcp_url", "") or f"{host.rstrip('/')}/mcp"
