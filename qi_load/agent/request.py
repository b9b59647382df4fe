"""Parse and validate a chat completion request body into a `ChatRequest` (or a 400 reason)."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from qi_load.agent.config import FaultKind
from qi_load.vocabulary import QueryType

__all__ = ["BadRequest", "ChatRequest", "parse_chat_request"]


class BadRequest(ValueError):
    """A body we refuse with 400; `param` names the offending field when there is one."""

    def __init__(self, message: str, code: str, param: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.param = param


class _Strict(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)


class ContentPart(_Strict):
    type: str
    text: str | None = None


class Message(_Strict):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[ContentPart] | None = None

    @property
    def text(self) -> str:
        """The content as text (a string, or the text parts of a list, joined by newlines)."""
        if isinstance(self.content, str):
            return self.content
        parts = [part.text for part in self.content or [] if part.text is not None]
        return "\n".join(parts)


class StreamOptions(_Strict):
    include_usage: bool = False


class Metadata(_Strict):
    query_type: QueryType | None = Field(default=None, description="Force the query type.")
    fault: FaultKind | None = Field(default=None, description="Inject one fault.")


class ChatRequest(_Strict):
    """The fields of OpenAI's chat completion request that the agent reads; others are ignored."""

    model: str
    messages: list[Message] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    metadata: Metadata = Field(default_factory=Metadata)

    @property
    def include_usage(self) -> bool:
        return self.stream_options is not None and self.stream_options.include_usage

    @property
    def token_limit(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens

    @property
    def last_user_text(self) -> str:
        """Text of the last `user` message (empty if there is none): what the agent answers."""
        return next((m.text for m in reversed(self.messages) if m.role == "user"), "")


def parse_chat_request(body: bytes) -> ChatRequest:
    """The validated request; BadRequest with a one-line reason otherwise."""
    try:
        data: Any = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"request body is not valid JSON: {exc}", "invalid_json") from None
    if not isinstance(data, dict):
        raise BadRequest("request body must be a JSON object", "invalid_type")
    try:
        return ChatRequest.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        param = ".".join(str(part) for part in error["loc"])
        code = "missing_required_parameter" if error["type"] == "missing" else "invalid_value"
        raise BadRequest(f"{param}: {error['msg']}", code, param) from None
