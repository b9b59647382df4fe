"""The preflight's diagnosis: what a failed request met -> one line with the cause and the fix."""

from __future__ import annotations

import argparse

import pytest

from qi_load.generate.options import GROUPS, MCP, LoadOptions, add_arguments
from qi_load.generate.preflight import (
    ChatOutcome,
    McpOutcome,
    diagnose_chat,
    diagnose_mcp,
    is_transient,
    needs_model_list,
)
from qi_load.generate.shared_options import chat_config, mcp_url
from qi_load.scenario import Scenario

URL = "http://agent:8000/v1/chat/completions"


def chat(**fields: object) -> ChatOutcome:
    values: dict[str, object] = {"url": URL, "model": "qi-agent", "ok": False, **fields}
    return ChatOutcome(**values)  # type: ignore[arg-type]


def test_a_working_request_has_no_diagnosis() -> None:
    assert diagnose_chat(chat(ok=True)) is None
    assert diagnose_mcp(McpOutcome(url="http://a/mcp", ok=True)) is None


@pytest.mark.parametrize(
    ("outcome", "expected"),
    [
        (
            chat(
                error_kind="connect", error="ConnectionRefusedError: [Errno 111] Connection refused"
            ),
            f"connection refused at {URL} — is the agent running? check --host",
        ),
        (
            chat(error_kind="connect", error="name resolution failed: [Errno -2] Name unknown"),
            f"cannot resolve the host of {URL} — check --host",
        ),
        (
            chat(error_kind="connect", error="OSError: [Errno 113] No route to host"),
            f"cannot connect to {URL} (OSError: [Errno 113] No route to host) — is the agent "
            "running? check --host",
        ),
        (
            chat(error_kind="timeout", error="no response headers within 30.0s"),
            f"no answer from POST {URL}: no response headers within 30.0s — the server took "
            "the request but answered too late (still loading its model? busy?): retry once "
            "it is ready, raise --first-byte-timeout / --request-timeout if its answers take "
            "longer (the check waits at most 30 s for the first byte, 60 s in all), or skip "
            "this check with --no-preflight",
        ),
        (
            chat(error_kind="http", status_code=401, error='HTTP 401: {"error": "no key"}'),
            f"HTTP 401 from POST {URL} — set QI_LOAD_API_KEY (or OPENAI_API_KEY)",
        ),
        (
            chat(
                error_kind="http", status_code=403, error="HTTP 403: ", key_source="OPENAI_API_KEY"
            ),
            f"HTTP 403 from POST {URL} — the API key in OPENAI_API_KEY was refused; check it",
        ),
        (
            chat(error_kind="http", status_code=404, error='HTTP 404: {"detail":"Not Found"}'),
            f"HTTP 404 for POST {URL} — check the base URL (--host should be the server root, "
            "e.g. http://agent:8000)",
        ),
        (
            chat(error_kind="http", status_code=405, error="HTTP 405: Method Not Allowed"),
            f"HTTP 405 for POST {URL} — check the base URL (--host should be the server root, "
            "e.g. http://agent:8000)",
        ),
        (
            chat(error_kind="http", status_code=503, error="HTTP 503: loading"),
            f"HTTP 503 from POST {URL}: loading — the agent fails requests; check its logs",
        ),
        (
            chat(error_kind="http", status_code=400, error="HTTP 400: bad field 'metadata'"),
            f"HTTP 400 from POST {URL}: bad field 'metadata' — the agent rejects the request; "
            "check its logs",
        ),
        (
            chat(
                error_kind="protocol",
                status_code=200,
                content_type="text/html; charset=utf-8",
                error="invalid JSON body: Expecting value",
            ),
            f"not an event stream (content-type text/html) from POST {URL} — check --host: "
            "this is not an OpenAI-compatible chat endpoint",
        ),
        (
            chat(
                error_kind="protocol",
                status_code=200,
                stream=False,
                content_type="text/plain",
                error="invalid JSON body: Expecting value",
            ),
            f"not JSON (content-type text/plain) from POST {URL} — check --host: this is not "
            "an OpenAI-compatible chat endpoint",
        ),
        (
            chat(
                error_kind="protocol",
                status_code=200,
                content_type="application/json",
                error="asked for an event stream, got content-type 'application/json'",
            ),
            f"JSON instead of an event stream from POST {URL} — this server does not stream: "
            "add --no-stream",
        ),
        (
            chat(
                error_kind="protocol",
                status_code=200,
                content_type="text/event-stream",
                error="stream ended without data: [DONE]",
            ),
            f"invalid answer from POST {URL}: stream ended without data: [DONE] — is this an "
            "OpenAI-compatible chat endpoint? check --host",
        ),
    ],
)
def test_chat_failures_name_the_cause_and_the_fix(outcome: ChatOutcome, expected: str) -> None:
    assert diagnose_chat(outcome) == expected


def test_the_api_key_is_named_by_where_it_came_from_never_by_value() -> None:
    line = diagnose_chat(chat(error_kind="http", status_code=401, key_source="api_key"))
    assert (
        line
        == f"HTTP 401 from POST {URL} — the API key in the configured key was refused; check it"
    )


MODEL_404 = chat(
    error_kind="http",
    status_code=404,
    error='HTTP 404: {"error": {"message": "The model `qi-agent` does not exist."}}',
)


def test_a_model_the_server_does_not_serve_lists_the_ones_it_does() -> None:
    assert needs_model_list(MODEL_404)
    assert diagnose_chat(MODEL_404, ["llama-a", "llama-b"]) == (
        "model 'qi-agent' not found — the server lists: llama-a, llama-b (set --model)"
    )
    many = [f"m{i}" for i in range(13)]
    line = diagnose_chat(MODEL_404, many)
    assert line is not None and line.endswith("m9 and 3 more (set --model)")
    assert diagnose_chat(MODEL_404, []) == (
        "model 'qi-agent' not found — the server lists: (none) (set --model)"
    )


def test_a_model_complaint_without_a_list_still_says_set_model() -> None:
    line = diagnose_chat(MODEL_404, None)
    assert line is not None
    assert line.startswith("model 'qi-agent' not found (HTTP 404 from POST")
    assert line.endswith("— set --model to a model the server serves")


def test_a_listed_model_that_is_still_refused_points_at_model() -> None:
    line = diagnose_chat(MODEL_404, ["qi-agent"])
    assert line is not None and line.endswith("— check --model")


def test_a_plain_404_is_about_the_path_not_the_model() -> None:
    plain = chat(error_kind="http", status_code=404, error="HTTP 404: Not Found")
    assert not needs_model_list(plain)


def test_long_bodies_are_shortened_to_one_line() -> None:
    body = "line one\nline two " + "x" * 500
    line = diagnose_chat(chat(error_kind="http", status_code=500, error=f"HTTP 500: {body}"))
    assert line is not None and "\n" not in line and len(line) < 300 and "…" in line


@pytest.mark.parametrize(
    ("status", "kind", "content_type", "transient"),
    [
        (429, "http", "", True),
        (500, "http", "", True),
        (503, "http", "", True),
        (200, "protocol", "text/event-stream", True),
        (200, "protocol", "text/html", False),
        (401, "http", "", False),
        (404, "http", "", False),
        (0, "connect", "", False),
        (0, "timeout", "", False),
    ],
)
def test_only_server_side_hiccups_are_retried(
    status: int, kind: str, content_type: str, transient: bool
) -> None:
    assert is_transient(status, kind, content_type) is transient


@pytest.mark.parametrize(
    ("outcome", "expected"),
    [
        (
            McpOutcome(
                url="http://a/mcp", ok=False, error_kind="connect", error="Connection refused"
            ),
            "connection refused at http://a/mcp — is the MCP server running? check --mcp-url "
            "(default HOST/mcp)",
        ),
        (
            McpOutcome(url="http://a/mcp", ok=False, error_kind="http", status_code=404),
            "HTTP 404 for MCP initialize at http://a/mcp — check --mcp-url (default HOST/mcp)",
        ),
        (
            McpOutcome(url="http://a/mcp", ok=False, error_kind="http", status_code=401),
            "HTTP 401 from MCP initialize at http://a/mcp — the MCP server asks for "
            "credentials, which qi-load's MCP users do not send",
        ),
        (
            McpOutcome(
                url="http://a/mcp",
                ok=False,
                error_kind="protocol",
                status_code=200,
                error="unexpected content type 'text/html'",
            ),
            "MCP initialize at http://a/mcp failed: unexpected content type 'text/html' — is "
            "this an MCP server (streamable HTTP)? check --mcp-url (default HOST/mcp)",
        ),
    ],
)
def test_mcp_failures_name_the_cause_and_the_fix(outcome: McpOutcome, expected: str) -> None:
    assert diagnose_mcp(outcome) == expected


def _parse(*args: str) -> LoadOptions:
    parser = argparse.ArgumentParser()
    add_arguments(parser, [*GROUPS, MCP], only=lambda name: name != "scenario")
    return LoadOptions.from_namespace(parser.parse_args(list(args)))


def test_the_run_and_the_preflight_build_the_same_chat_config() -> None:
    scenario = Scenario.model_validate(
        {
            "name": "s",
            "model": "from-scenario",
            "max_tokens": 32,
            "stages": [{"users": 1, "hold_s": 1}],
        }
    )
    config = chat_config(_parse(), scenario, "http://h:1")
    assert (config.model, config.max_tokens, config.stream) == ("from-scenario", 32, True)
    config = chat_config(
        _parse("--model", "cli", "--no-stream", "--connect-timeout", "2"), None, "http://h:1"
    )
    assert (config.model, config.stream, config.connect_timeout) == ("cli", False, 2.0)
    assert chat_config(_parse(), None, "http://h:1").model == "qi-agent"
    # --max-tokens wins over the scenario's; without either none is sent.
    assert chat_config(_parse("--max-tokens", "8"), scenario, "http://h:1").max_tokens == 8
    assert chat_config(_parse(), None, "http://h:1").max_tokens is None


def test_the_mcp_endpoint() -> None:
    assert mcp_url(_parse(), "http://h:1/") == "http://h:1/mcp"
    assert mcp_url(_parse("--mcp-url", "http://m/x"), "http://h:1") == "http://m/x"
