"""What the users and the preflight (in Locust, or in ``qi-load run`` before it) build from
the options: the chat client's settings and the MCP endpoint, so both send alike."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from qi_load.generate.chat import ChatConfig
    from qi_load.generate.options import LoadOptions
    from qi_load.scenario import Scenario

__all__ = ["PREFLIGHT_FAILURE_PREFIX", "chat_config", "mcp_url"]


PREFLIGHT_FAILURE_PREFIX: Final = "qi-load preflight:"
"""Start of the one stderr line a failed preflight leaves (``qi-load run`` looks for it)."""


def chat_config(options: LoadOptions, scenario: Scenario | None, host: str) -> ChatConfig:
    """The chat client settings every agent user (and the preflight) sends with."""
    # Imported when called: the chat client brings gevent, which `qi-load run` only needs here.
    from qi_load.generate.chat import ChatConfig

    model = options.model or (scenario.model if scenario else None)
    return ChatConfig(
        base_url=host,
        model=model or ChatConfig.model_fields["model"].default,
        stream=not options.no_stream,
        connect_timeout=options.connect_timeout,
        first_byte_timeout=options.first_byte_timeout,
        total_timeout=options.request_timeout,
        max_tokens=options.max_tokens or (scenario.max_tokens if scenario else None),
        trace_context=not options.no_trace_context,
    )


def mcp_url(options: LoadOptions, host: str) -> str:
    """The MCP endpoint the users (and the preflight) talk to: ``--mcp-url``, else HOST/mcp."""
    return options.mcp_url or f"{host.rstrip('/')}/mcp"
