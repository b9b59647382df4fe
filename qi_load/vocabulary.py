"""The run's vocabulary: query types, mix keys, roles, stage names and error kinds.

Scenario, generator, reference agent, recorder and analysis all speak these words; they
import them from here, so none of them needs another's module to name a query type.
"""

from __future__ import annotations

from typing import Final, Literal, get_args

__all__ = [
    "CONVERSATION",
    "ERROR_KINDS",
    "GENERATOR_ROLES",
    "MCP",
    "MIX_KEYS",
    "OWN_ROLES",
    "QUERY_TYPES",
    "RECORD_QUERY_TYPES",
    "ROLES",
    "TARGET_ROLES",
    "WARMUP_STAGE",
    "ErrorKind",
    "QueryType",
    "Role",
    "Side",
    "TokensSource",
    "side_of",
]

QueryType = Literal["simple", "code_generation", "file_operations", "multi_tool", "reasoning"]
"""The methodology's query types (the reference agent's classes, the catalogue's keys)."""
QUERY_TYPES: Final[tuple[QueryType, ...]] = get_args(QueryType)

CONVERSATION: Final = "conversation"
"""The mix key of multi-turn conversations, and the query type of their requests' rows."""
MCP: Final = "mcp"
"""The query type of the rows MCP users write."""
MIX_KEYS: Final[tuple[str, ...]] = (*QUERY_TYPES, CONVERSATION)
"""Keys of a scenario's mix: the query types plus multi-turn conversations."""
RECORD_QUERY_TYPES: Final[tuple[str, ...]] = (*MIX_KEYS, MCP)
"""What a request row's ``query_type`` may hold."""

WARMUP_STAGE: Final = "warmup"
"""Name of the stage the plan puts first when ``warmup_s > 0``; analysis leaves it out."""

ErrorKind = Literal["none", "connect", "timeout", "http", "protocol", "cancelled"]
"""How a request failed at the protocol level; a wrong answer is not one (see ``quality_ok``).
``cancelled``: in flight when Locust stopped its user (end of a test, ramp-down)."""
ERROR_KINDS: Final[tuple[ErrorKind, ...]] = get_args(ErrorKind)

TokensSource = Literal["usage", "events", ""]
"""Where a row's token counts come from: the server's ``usage``, counted token-bearing
events, or nowhere (no tokens)."""

Role = Literal["master", "worker", "target", "sut", "local"]
"""What a sampled process is: a Locust master or worker, the one Locust process of a local
run, the reference agent ``qi-load run`` started, or any other watched process."""
ROLES: Final[tuple[Role, ...]] = get_args(Role)
GENERATOR_ROLES: Final[tuple[Role, ...]] = ("worker", "local")
"""Processes that run users: their CPU limits the accuracy of measured timings."""
TARGET_ROLES: Final[tuple[Role, ...]] = ("target", "sut")
"""Processes of the system under test."""
OWN_ROLES: Final[tuple[Role, ...]] = ("master", "worker", "local")
"""qi-load's own processes (the load generator's): never the system under test."""

Side = Literal["qi-load", "agent"]
"""Whose process a sample is: qi-load's own, or the agent's (the system under test)."""


def side_of(role: str) -> Side:
    """The side of a role: findings about qi-load's own processes never read as the agent's."""
    return "agent" if role in TARGET_ROLES else "qi-load"
