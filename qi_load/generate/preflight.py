"""Preflight: one real request per protocol before the ramp; a failure becomes one line.

A wrong port, path, key or model would otherwise run the whole ladder and leave its cause in
``locust_failures.csv``. The check sends the request the users send (same ``ChatConfig``,
same client, same key) with small timeouts, and turns what went wrong into the cause and
the fix (``diagnose_chat``, ``diagnose_mcp``: pure functions of plain values). It runs in
``qi-load run`` before Locust starts, or in the Locust master or local runner at ``init``
(gevent either way), before the run directory is opened.
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final
from urllib.parse import urlsplit

import gevent
from geventhttpclient import HTTPClient
from geventhttpclient.response import HTTPParseError

from qi_load.errors import QiLoadError
from qi_load.generate.chat import ChatClient, ChatConfig, ChatResult, api_key, api_key_source
from qi_load.generate.mcp import McpClient, McpResult
from qi_load.generate.shared_options import PREFLIGHT_FAILURE_PREFIX, chat_config, mcp_url

if TYPE_CHECKING:
    from qi_load.generate.run_state import QiState

__all__ = [
    "OK_PREFIX",
    "ChatOutcome",
    "McpOutcome",
    "PreflightError",
    "check_chat",
    "check_mcp",
    "diagnose_chat",
    "diagnose_mcp",
    "is_transient",
    "list_models",
    "needs_model_list",
    "report_failure",
    "run_checks",
    "run_in_locust",
]

OK_PREFIX: Final = "[qi-load] preflight ok:"
CONNECT_TIMEOUT_S: Final = 3.0
"""A closed port fails at once; a filtered one within this."""
FIRST_BYTE_TIMEOUT_S: Final = 30.0
TOTAL_TIMEOUT_S: Final = 60.0
MAX_ATTEMPTS: Final = 3
RETRY_BUDGET_S: Final = 3.0
"""Transient failures (429, 5xx, a cut stream) are retried until this much time has passed."""
RETRY_PAUSE_S: Final = 0.3
PROMPT: Final = "Reply with one short sentence."
_BODY_CHARS: Final = 120
_LISTED_MAX: Final = 10
_SKIP_HINT: Final = "(or skip this check with --no-preflight)"


class PreflightError(QiLoadError):
    """The target cannot serve the run: ``str(exc)`` is the cause and the fix, one line."""


# -- what a request met, in plain values --------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChatOutcome:
    """The preflight chat request's result as the diagnosis needs it."""

    url: str
    model: str
    ok: bool
    stream: bool = True
    error_kind: str = "none"
    error: str = ""
    status_code: int = 0
    content_type: str = ""
    key_source: str = ""
    """Where the API key came from (a variable's name, ``api_key``), "" without one."""


@dataclass(frozen=True, slots=True)
class McpOutcome:
    """The preflight MCP ``initialize``'s result as the diagnosis needs it."""

    url: str
    ok: bool
    error_kind: str = "none"
    error: str = ""
    status_code: int = 0


def is_transient(status_code: int, error_kind: str, content_type: str = "") -> bool:
    """A failure worth one more try: overload, a server error, a stream cut short."""
    if status_code == 429 or status_code >= 500:
        return True
    return status_code == 200 and error_kind == "protocol" and _is_stream(content_type)


def needs_model_list(outcome: ChatOutcome) -> bool:
    """The answer blames the model: the ids ``/v1/models`` lists make the fix."""
    return _blames_model(outcome)


# -- diagnosis ----------------------------------------------------------------------------


def diagnose_chat(outcome: ChatOutcome, listed: Sequence[str] | None = None) -> str | None:
    """The cause and the fix of a failed chat request on one line; None when it worked.

    ``listed``: the model ids the server's ``/v1/models`` lists (None: not asked/unknown).
    """
    if outcome.ok:
        return None
    where = f"POST {outcome.url}"
    if outcome.error_kind == "timeout":
        # Connected (else the kind is "connect"): the server is there, only slow to answer.
        return (
            f"no answer from {where}: {_short(outcome.error)} — the server took the request "
            "but answered too late (still loading its model? busy?): retry once it is ready, "
            "raise --first-byte-timeout / --request-timeout if its answers take longer "
            "(the check waits at most "
            f"{FIRST_BYTE_TIMEOUT_S:g} s for the first byte, {TOTAL_TIMEOUT_S:g} s in all), "
            "or skip this check with --no-preflight"
        )
    fix_host = "is the agent running? check --host"
    common = _transport_cause(outcome.error_kind, outcome.error, outcome.url, where, fix_host)
    if common is not None:
        return common
    status, body = outcome.status_code, _body(outcome.error)
    if status in (401, 403):
        if not outcome.key_source:
            return f"HTTP {status} from {where} — set QI_LOAD_API_KEY (or OPENAI_API_KEY)"
        source = "the configured key" if outcome.key_source == "api_key" else outcome.key_source
        return f"HTTP {status} from {where} — the API key in {source} was refused; check it"
    if _blames_model(outcome):
        return _model_cause(outcome, listed, where, body)
    if status in (404, 405):
        return (
            f"HTTP {status} for {where} — check the base URL (--host should be the server "
            f"root, e.g. {_root(outcome.url)})"
        )
    server = _server_cause(status, where, body, "agent")
    if server is not None:
        return server
    media = _media_type(outcome.content_type)
    if outcome.error_kind == "protocol" and outcome.stream and _is_json(media):
        return (
            f"JSON instead of an event stream from {where} — this server does not stream: "
            "add --no-stream"
        )
    if outcome.error_kind == "protocol" and not _is_stream(media) and not _is_json(media):
        expected = "an event stream" if outcome.stream else "JSON"
        return (
            f"not {expected} (content-type {media or 'missing'}) from {where} — check --host: "
            f"this is not an OpenAI-compatible chat endpoint"
        )
    return (
        f"invalid answer from {where}: {_short(outcome.error)} — is this an OpenAI-compatible "
        f"chat endpoint? check --host"
    )


def diagnose_mcp(outcome: McpOutcome) -> str | None:
    """The cause and the fix of a failed MCP ``initialize`` on one line; None when it worked."""
    if outcome.ok:
        return None
    where = f"MCP initialize at {outcome.url}"
    fix_url = "is the MCP server running? check --mcp-url (default HOST/mcp)"
    common = _transport_cause(outcome.error_kind, outcome.error, outcome.url, where, fix_url)
    if common is not None:
        return common
    status, body = outcome.status_code, _body(outcome.error)
    if status in (401, 403):
        return (
            f"HTTP {status} from {where} — the MCP server asks for credentials, which "
            f"qi-load's MCP users do not send"
        )
    if status in (404, 405):
        return f"HTTP {status} for {where} — check --mcp-url (default HOST/mcp)"
    server = _server_cause(status, where, body, "MCP server")
    if server is not None:
        return server
    return (
        f"{where} failed: {_short(outcome.error)} — is this an MCP server (streamable HTTP)? "
        f"check --mcp-url (default HOST/mcp)"
    )


def _transport_cause(kind: str, error: str, url: str, where: str, fix: str) -> str | None:
    """Connection and timeout failures read the same for every protocol."""
    if kind == "connect":
        if "refused" in error.lower():
            return f"connection refused at {url} — {fix}"
        if error.startswith("name resolution"):
            return f"cannot resolve the host of {url} — check --host"
        return f"cannot connect to {url} ({_short(error)}) — {fix}"
    if kind == "timeout":
        return f"no answer from {where}: {_short(error)} — {fix} {_SKIP_HINT}"
    return None


def _server_cause(status: int, where: str, body: str, who: str) -> str | None:
    if status == 429 or status >= 500:
        return f"HTTP {status} from {where}: {body} — the {who} fails requests; check its logs"
    if status >= 400:
        return f"HTTP {status} from {where}: {body} — the {who} rejects the request; check its logs"
    return None


_MODEL_WORD = re.compile(r"\bmodel", re.IGNORECASE)


def _blames_model(outcome: ChatOutcome) -> bool:
    blamed = outcome.status_code in (400, 404, 422) or (
        outcome.status_code == 200 and "error object" in outcome.error
    )
    return blamed and _MODEL_WORD.search(_body(outcome.error)) is not None


def _model_cause(outcome: ChatOutcome, listed: Sequence[str] | None, where: str, body: str) -> str:
    model = outcome.model
    if listed is None:
        return (
            f"model {model!r} not found (HTTP {outcome.status_code} from {where}: {body}) — "
            f"set --model to a model the server serves"
        )
    if model in listed:
        return f"HTTP {outcome.status_code} from {where}: {body} — check --model"
    names = ", ".join(listed[:_LISTED_MAX]) or "(none)"
    if len(listed) > _LISTED_MAX:
        names += f" and {len(listed) - _LISTED_MAX} more"
    return f"model {model!r} not found — the server lists: {names} (set --model)"


def _body(error: str) -> str:
    """The response body part of an ``HTTP 404: body`` error, shortened to one line."""
    return _short(re.sub(r"^HTTP \d+: ", "", error))


def _short(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= _BODY_CHARS else flat[: _BODY_CHARS - 1] + "…"


def _media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def _is_stream(content_type: str) -> bool:
    return _media_type(content_type) == "text/event-stream"


def _is_json(content_type: str) -> bool:
    media = _media_type(content_type)
    return media == "application/json" or media.endswith("+json")


def _root(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


# -- the checks (gevent) ------------------------------------------------------------------


def check_chat(config: ChatConfig) -> str:
    """One chat request as the users send it; the summary line, or ``PreflightError``."""
    probe = config.model_copy(
        update={
            "connect_timeout": min(config.connect_timeout, CONNECT_TIMEOUT_S),
            "first_byte_timeout": min(config.first_byte_timeout, FIRST_BYTE_TIMEOUT_S),
            "total_timeout": min(config.total_timeout, TOTAL_TIMEOUT_S),
        }
    )
    try:
        client = ChatClient(probe)
    except QiLoadError:
        raise PreflightError(
            f"--host {config.base_url!r} is not an http(s) URL — give the agent's base URL, "
            f"e.g. http://127.0.0.1:8000"
        ) from None
    started = time.monotonic()
    with client:
        for attempt in range(1, MAX_ATTEMPTS + 1):
            result = client.complete([{"role": "user", "content": PROMPT}], query_type="simple")
            outcome = _chat_outcome(client, probe, result)
            if outcome.ok:
                return _chat_summary(client.url, result)
            retry = is_transient(result.status_code, result.error_kind, result.content_type)
            if not retry or attempt == MAX_ATTEMPTS:
                break
            if time.monotonic() - started > RETRY_BUDGET_S:
                break
            gevent.sleep(RETRY_PAUSE_S)
    listed = list_models(probe, client.url) if needs_model_list(outcome) else None
    cause = diagnose_chat(outcome, listed)
    assert cause is not None
    key = api_key(probe)
    # A server may echo the key in its error body: the line names where it came from only.
    raise PreflightError(cause.replace(key, "***") if key else cause)


def check_mcp(url: str) -> str:
    """One MCP ``initialize`` (then the session is closed); the summary, or ``PreflightError``."""
    try:
        client = McpClient(url, connect_timeout=CONNECT_TIMEOUT_S, total_timeout=TOTAL_TIMEOUT_S)
    except QiLoadError:
        raise PreflightError(
            f"MCP URL {url!r} is not an http(s) URL — check --mcp-url or --host"
        ) from None
    started = time.monotonic()
    with client:
        for attempt in range(1, MAX_ATTEMPTS + 1):
            result = client.initialize()
            if result.ok:
                return f"mcp {url}: initialize in {_ms(result)}"
            retry = is_transient(result.status_code, result.error_kind)
            if not retry or attempt == MAX_ATTEMPTS:
                break
            if time.monotonic() - started > RETRY_BUDGET_S:
                break
            gevent.sleep(RETRY_PAUSE_S)
    outcome = McpOutcome(
        url=url,
        ok=False,
        error_kind=result.error_kind,
        error=result.error,
        status_code=result.status_code,
    )
    cause = diagnose_mcp(outcome)
    assert cause is not None
    raise PreflightError(cause)


def list_models(config: ChatConfig, chat_url: str) -> list[str] | None:
    """The model ids of ``GET …/models`` next to the chat endpoint; None if it has none."""
    parts = urlsplit(chat_url)
    if not parts.path.endswith("/chat/completions") or parts.hostname is None:
        return None
    path = parts.path[: -len("chat/completions")] + "models"
    headers = {"Accept": "application/json"}
    key = api_key(config)
    if key:
        headers["Authorization"] = f"Bearer {key}"
    http = HTTPClient(
        parts.hostname,
        port=parts.port or (443 if parts.scheme == "https" else 80),
        ssl=parts.scheme == "https",
        connection_timeout=CONNECT_TIMEOUT_S,
        network_timeout=CONNECT_TIMEOUT_S,
    )
    try:
        with gevent.Timeout(2 * CONNECT_TIMEOUT_S, False):
            response = http.get(path, headers=headers)
            raw = response.read()
            if response.status_code == 200:
                return _model_ids(raw)
        return None
    except (HTTPParseError, OSError):
        return None
    finally:
        http.close()


def _model_ids(raw: bytes) -> list[str] | None:
    try:
        data = json.loads(raw).get("data")
    except (ValueError, AttributeError):
        return None
    if not isinstance(data, list):
        return None
    return [str(item["id"]) for item in data if isinstance(item, dict) and "id" in item]


def _chat_outcome(client: ChatClient, config: ChatConfig, result: ChatResult) -> ChatOutcome:
    return ChatOutcome(
        url=client.url,
        model=config.model,
        ok=result.ok,
        stream=config.stream,
        error_kind=result.error_kind,
        error=result.error,
        status_code=result.status_code,
        content_type=result.content_type,
        key_source=api_key_source(config),
    )


def _chat_summary(url: str, result: ChatResult) -> str:
    media = _media_type(result.content_type) or "no content-type"
    ttft = result.ttft_ms
    first = f", first token {ttft:.0f} ms" if ttft is not None else ""
    return f"chat {url}: HTTP {result.status_code} {media}{first}, done in {_ms(result)}"


def _ms(result: ChatResult | McpResult) -> str:
    value = result.e2e_ms if isinstance(result, ChatResult) else result.latency_ms
    return "-" if value is None else f"{value:.0f} ms"


# -- inside Locust ------------------------------------------------------------------------


def run_checks(chat: ChatConfig | None, mcp: str | None) -> None:
    """Check each protocol given and print its summary; ``PreflightError`` on the first
    failure. ``qi-load run`` calls it before Locust starts, the plugin inside Locust."""
    summaries = []
    if chat is not None:
        summaries.append(check_chat(chat))
    if mcp is not None:
        summaries.append(check_mcp(mcp))
    for summary in summaries:
        print(f"{OK_PREFIX} {summary}", flush=True)


def run_in_locust(qi: QiState) -> None:
    """Master/local: check the protocols the run's user classes speak.

    Without a host there is nothing to check yet (the web UI asks for it); headless, that
    is an error.
    """
    # Imported here: the user modules import the plugin, which imports this module.
    from qi_load.generate.mcp_users import McpUser
    from qi_load.generate.users import AgentUser

    environment = qi.environment
    options = environment.parsed_options
    classes = list(environment.user_classes)
    host = environment.host or next((c.host for c in classes if c.host), "") or ""
    if not host:
        if getattr(options, "headless", False):
            raise PreflightError(
                "no host to send requests to — give -H/--host with the agent's base URL, "
                "e.g. http://127.0.0.1:8000"
            )
        return
    chats = any(issubclass(c, AgentUser) for c in classes)
    mcps = any(issubclass(c, McpUser) for c in classes)
    run_checks(
        chat_config(qi.options, qi.scenario, host) if chats else None,
        mcp_url(qi.options, host) if mcps else None,
    )


def report_failure(exc: QiLoadError) -> None:
    """The one line of a failed preflight, on stderr."""
    print(f"{PREFLIGHT_FAILURE_PREFIX} {exc}", file=sys.stderr, flush=True)
