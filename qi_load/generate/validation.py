"""Fail fast: every run option checked once at start, in each process, as one-line errors.

``qi-load run`` checks its own options and those it passes on before it starts anything;
each Locust process (local, master, worker) checks its parsed options at ``init``, so a
plain ``locust -f … --headless`` fails the same way. Without this a bad ``--host`` or
``--queries`` surfaced only when the first user started, and the run idled to its end.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from typing import Any, Final
from urllib.parse import urlsplit

from qi_load.errors import ConfigError

__all__ = [
    "NUMBER_OPTIONS",
    "check_host",
    "check_locust_args",
    "check_number",
    "check_options",
    "check_run_id",
    "check_run_options",
]

URL_SCHEMES: Final = ("http", "https")

# dest -> (option, lowest, highest, lowest allowed itself): the numbers a run reads. The
# highest values are far beyond any real use and stop typos that would never end.
NUMBER_OPTIONS: Final[dict[str, tuple[str, float, float, bool]]] = {
    "time_scale": ("--time-scale", 0.0, 1e6, True),
    "request_timeout": ("--request-timeout", 0.0, 86_400.0, False),
    "first_byte_timeout": ("--first-byte-timeout", 0.0, 86_400.0, False),
    "connect_timeout": ("--connect-timeout", 0.0, 3_600.0, False),
    "qi_progress": ("--qi-progress", 0.0, 86_400.0, True),
    "progress_interval": ("--progress", 0.0, 86_400.0, True),
    "monitor_interval": ("--monitor-interval", 0.0, 3_600.0, True),
    "saturation_threshold": ("--saturation-threshold", 0.0, 100_000.0, False),
    "saturation_seconds": ("--saturation-seconds", 0.0, 86_400.0, False),
    "metrics_port": ("--metrics-port", 0, 65_535, True),
    "monitor_port": ("--monitor-port", 0, 65_535, True),
    "otlp_port": ("--otlp-port", 0, 65_535, True),
    "max_tokens": ("--max-tokens", 0, 10_000_000, True),
}


def check_number(option: str, value: Any, low: float, high: float, low_ok: bool) -> None:
    """``value`` is a finite number in ``(low, high]`` (``[low, high]`` with ``low_ok``)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{option} {value!r}: expected a number")
    above = value >= low if low_ok else value > low
    if not math.isfinite(value) or not above or value > high:
        side = ">=" if low_ok else ">"
        raise ConfigError(
            f"{option} {value:g}: expected a finite number {side} {low:g} and <= {high:g}"
        )


def check_host(url: str, option: str = "--host") -> None:
    """An http(s) base URL with a host name (and a valid port, if any)."""
    parts = urlsplit(url)
    if parts.scheme not in URL_SCHEMES:
        got = f"scheme {parts.scheme!r}" if parts.scheme else "no scheme"
        raise ConfigError(
            f"{option} {url!r}: expected an http:// or https:// URL, got {got} "
            "(e.g. http://127.0.0.1:8000)"
        )
    try:
        parts.port  # noqa: B018 - parsing it is the check
    except ValueError:
        raise ConfigError(f"{option} {url!r}: the port is not a number in 0..65535") from None
    if not parts.hostname:
        raise ConfigError(f"{option} {url!r}: no host name (e.g. http://127.0.0.1:8000)")


def check_run_id(run_id: str) -> None:
    """A run id names one directory inside ``--out``: no path separators, no ``..``."""
    if not run_id:
        return
    if "/" in run_id or "\\" in run_id or "\0" in run_id or run_id in (".", ".."):
        raise ConfigError(
            f"--run-id {run_id!r}: must be a plain directory name inside --out "
            "(no '/', '\\' or '..')"
        )


def check_options(options: Any, host: str | None = None) -> None:
    """Every qi-load option of a parsed namespace (Locust's or ``qi-load run``'s); raises
    ``ConfigError``. Loading ``--queries`` here finds a bad catalogue before any user."""
    # Imported here: the catalogue pulls in the quality checks, which the CLI loads lazily.
    from qi_load.generate.queries import catalogue_from_options

    for dest, (option, low, high, low_ok) in NUMBER_OPTIONS.items():
        value = getattr(options, dest, None)
        if value is not None:
            check_number(option, value, low, high, low_ok)
    if host:
        check_host(host)
    mcp = str(getattr(options, "mcp_url", "") or "")
    if mcp:
        check_host(mcp, "--mcp-url")
    check_run_id(str(getattr(options, "run_id", "") or ""))
    if getattr(options, "queries", ""):
        catalogue_from_options(options)


def check_locust_args(locust_args: Sequence[str]) -> None:
    """The qi-load options among the arguments ``qi-load run`` passes on to Locust."""
    from qi_load.generate import options as load_options

    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False, exit_on_error=False)
    load_options.add_arguments(parser, [load_options.CHAT, load_options.MCP], grouped=False)
    load_options.add_arguments(
        parser,
        [load_options.QI_LOAD],
        only=("queries", "quality", "reference_agent").__contains__,
        grouped=False,
    )
    try:
        parsed, _ = parser.parse_known_args(list(locust_args))
    except argparse.ArgumentError as exc:
        raise ConfigError(f"after --: {exc}") from None
    check_options(parsed)


def check_run_options(options: Any) -> None:
    """``qi-load run``'s options (a ``RunOptions``) and the qi-load ones it passes on."""
    check_options(options, options.host)
    check_options(options.load)
    check_locust_args(options.locust_args)
