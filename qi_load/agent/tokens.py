"""Split answer text into output tokens and fit it to the configured token count."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable
from typing import Final

__all__ = ["FILLER", "count_tokens", "fit_tokens", "tokenize"]

# A token is a word with the whitespace before it, so joining the tokens restores the text.
_TOKEN: Final = re.compile(r"\s*\S+|\s+$")

_SPACE_OR_X: Final = bytes(
    0x20 if byte in b" \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f" else 0x78 for byte in range(256)
)

FILLER: Final = (
    "\n\nI hope this helps. Let me know if you would like more detail, a different "
    "approach, or an example you can run."
)


def tokenize(text: str) -> list[str]:
    """Word tokens: `"".join(tokenize(t)) == t` for every text."""
    return _TOKEN.findall(text)


def count_tokens(texts: Iterable[str]) -> int:
    """Approximate token count of prompt texts: as many as `tokenize` finds, with only
    ASCII whitespace separating words.

    Counted at C speed, byte by byte (`tokenize` on a 1 MiB prompt takes ~150 ms of the
    event loop, this ~2 ms): every byte becomes a space or an `x`, and a token is an `x`
    after a space (or at the start), plus one for trailing whitespace.
    """
    total = 0
    for text in texts:
        marks = text.encode("utf-8", "surrogatepass").translate(_SPACE_OR_X)
        total += marks.count(b" x") + marks.startswith(b"x") + marks.endswith(b" ")
    return total


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
