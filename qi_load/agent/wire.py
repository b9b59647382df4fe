"""OpenAI wire format: chat completion chunks, SSE framing, full responses and error bodies."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Final

__all__ = [
    "AGENT_HEADER",
    "DONE",
    "REFERENCE_AGENT",
    "ChunkWriter",
    "completion_body",
    "error_body",
    "server_timing_header",
    "sse",
]

DONE: Final = b"data: [DONE]\n\n"
AGENT_HEADER: Final = "x-qi-load-agent"
"""Response header by which the reference agent identifies itself, so a client can run the
answer checks tied to its sandbox files and tools without being told what it talks to."""
REFERENCE_AGENT: Final = "reference"
"""``AGENT_HEADER``'s value on every chat response of the reference agent."""
PHASES: Final = ("request", "tool", "llm", "format")


def _dumps(value: Any) -> bytes:
    # Compact separators and raw UTF-8, as OpenAI's API sends them.
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def sse(value: Any) -> bytes:
    """One Server-Sent Event carrying `value` as JSON: `data: {...}\\n\\n`."""
    return b"data: " + _dumps(value) + b"\n\n"


def error_body(message: str, error_type: str, code: str, param: str | None = None) -> bytes:
    """OpenAI's error shape: `{"error": {"message", "type", "param", "code"}}`."""
    return _dumps({"error": {"message": message, "type": error_type, "param": param, "code": code}})


def server_timing_header(phases: dict[str, float]) -> str:
    """`request;dur=1.2, tool;dur=0.0, llm;dur=530.1, format;dur=0.3` (ms)."""
    return ", ".join(f"{name};dur={phases[name]:.3f}" for name in PHASES if name in phases)


_PLACEHOLDER: Final = "\x00qi-token\x00"


@dataclass(frozen=True)
class ChunkWriter:
    """Builds the `chat.completion.chunk` events of one streamed completion."""

    completion_id: str
    created: int
    model: str
    include_usage: bool
    _content_frame: tuple[bytes, bytes] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # A content event is the same bytes around its token every time: serialize the
        # frame once and splice each token's JSON string in (identical to a full dumps).
        marker = _dumps(_PLACEHOLDER)
        prefix, _, suffix = sse(self._delta({"content": _PLACEHOLDER}, None)).rpartition(marker)
        object.__setattr__(self, "_content_frame", (prefix, suffix))

    def _chunk(self, choices: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
        chunk: dict[str, Any] = {
            "id": self.completion_id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": None,
            "choices": choices,
        }
        if self.include_usage:
            # OpenAI sends "usage": null on every chunk but the last when usage is requested.
            chunk["usage"] = None
        chunk.update(extra)
        return chunk

    def _delta(self, delta: dict[str, Any], finish_reason: str | None) -> dict[str, Any]:
        return self._chunk(
            [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}]
        )

    def role(self) -> bytes:
        return sse(self._delta({"role": "assistant", "content": ""}, None))

    def content(self, text: str) -> bytes:
        prefix, suffix = self._content_frame
        return prefix + _dumps(text) + suffix

    def finish(self, reason: str, extra: dict[str, Any] | None = None) -> bytes:
        chunk = self._delta({}, reason)
        chunk.update(extra or {})
        return sse(chunk)

    def usage(self, usage: dict[str, int], extra: dict[str, Any] | None = None) -> bytes:
        return sse(self._chunk([], usage=usage, **(extra or {})))


def completion_body(
    *,
    completion_id: str,
    created: int,
    model: str,
    content: str,
    finish_reason: str,
    usage: dict[str, int],
    extra: dict[str, Any] | None = None,
) -> bytes:
    """A non-streamed `chat.completion` response (`extra`: top-level extension fields)."""
    return _dumps(
        {
            "id": completion_id,
            "object": "chat.completion",
            "created": created,
            "model": model,
            "system_fingerprint": None,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content, "refusal": None},
                    "logprobs": None,
                    "finish_reason": finish_reason,
                }
            ],
            "usage": usage,
            **(extra or {}),
        }
    )
