"""Split answer text into output tokens and fit it to the configured token count."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable
from typing import Final

__all__ = ["FILLER", "count_tokens", "fit_tokens", "tokenize"]

# A token is a word with the whitespace before it, so joining the tokens restores the text.
_TOKEN: Final = re.compile(r"\s*\S+|\s+$")

FILLER: Final = (
    "\n\nI hope this helps. Let me know if you would like more detail, a different "
    "approach, or an example you can run."
)


def tokenize(text: str) -> list[str]:
    """Word tokens: `"".join(tokenize(t)) == t` for every text."""
    return _TOKEN.findall(text)


def count_tokens(texts: Iterable[str]) -> int:
    """Approximate token count of prompt texts (word tokens)."""
    return sum(len(tokenize(text)) for text in texts)


def fit_tokens(text: str, n: int) -> list[str]:
    """Exactly `n` chunks whose concatenation starts with `text`.

    Short answers are padded with a closing paragraph (never inside the answer itself);
    long ones merge neighbouring words, so the content stays intact at any count.
    """
    if n < 1:
        raise ValueError("n must be >= 1")
    tokens = tokenize(text) or [text]
    if len(tokens) < n:
        filler = itertools.cycle(tokenize(FILLER))
        tokens = tokens + [next(filler) for _ in range(n - len(tokens))]
        return tokens
    size = len(tokens)
    return ["".join(tokens[i * size // n : (i + 1) * size // n]) for i in range(n)]
