"""Locustfile of the baseline: plain ``FastHttpUser`` posting qi-load's non-streaming chat body.

The body is byte for byte what ``qi_load.generate.chat.ChatClient`` sends for the simple
query "What is 2 + 2?" with ``--no-stream``, so both sides of the overhead benchmark ask the
server the same thing; no think time.
"""

from __future__ import annotations

import json

from locust import FastHttpUser, constant, task

__all__ = ["BODY", "PlainChatUser"]

BODY = json.dumps(
    {
        "model": "qi-agent",
        "messages": [{"role": "user", "content": "What is 2 + 2?"}],
        "stream": False,
        "metadata": {"query_type": "simple"},
    },
    separators=(",", ":"),
)


class PlainChatUser(FastHttpUser):
    wait_time = constant(0)

    @task
    def chat(self) -> None:
        self.client.post(
            "/v1/chat/completions", data=BODY, headers={"Content-Type": "application/json"}
        )
