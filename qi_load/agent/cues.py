"""The part of a prompt the agent reads for cues: bounded, so a long prompt costs no more."""

from __future__ import annotations

from typing import Final

__all__ = ["CUE_CHARS", "cue_text"]

CUE_CHARS: Final = 4 * 1024
"""Characters read from each end of a longer prompt: its instruction is at the start (a
question) or at the end (a document, then "summarize the above")."""


def cue_text(text: str) -> str:
    """`text` itself when short; else its first and last CUE_CHARS characters.

    Classification and the answers scan the text with a dozen regular expressions; on a
    1 MiB prompt that is seconds of CPU on the event loop, while every other request and
    `/health` wait.
    """
    if len(text) <= 2 * CUE_CHARS:
        return text
    return f"{text[:CUE_CHARS]}\n\n{text[-CUE_CHARS:]}"
