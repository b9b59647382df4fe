"""Output tokens: lossless split, and fitting an answer to an exact token count."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from qi_load.agent.tokens import count_tokens, fit_tokens, tokenize


def _texts(*, ascii_only: bool = False, min_size: int = 0) -> st.SearchStrategy[str]:
    """Any text, or whitespace between a few letters: plain ``text()`` rarely draws the
    whitespace where a split can lose or double text. Half the draws are of the second
    kind, so 50 examples meet inner runs of whitespace as often as 100 of ``text()`` did,
    leading and trailing ones two to four times as often, and each of Python's ASCII
    separators by name; drawing the examples, not the code under test, was these tests'
    time."""
    spaces = " \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f" + ("" if ascii_only else "\u2003\u00e9") + "abcdef"
    chars = st.characters(max_codepoint=127) if ascii_only else st.characters(codec="utf-8")
    return st.text(chars, min_size=min_size) | st.text(
        alphabet=st.sampled_from(spaces), min_size=min_size
    )


@settings(max_examples=50)
@given(_texts())
def test_tokenize_is_lossless(text: str) -> None:
    assert "".join(tokenize(text)) == text


@settings(max_examples=50)
@given(_texts(min_size=1), st.integers(min_value=1, max_value=400))
def test_fit_gives_exactly_n_chunks_that_start_with_the_answer(text: str, n: int) -> None:
    chunks = fit_tokens(text, n)
    assert len(chunks) == n
    joined = "".join(chunks)
    assert joined.startswith(text) or joined == text


def test_long_answers_merge_words_and_keep_the_text() -> None:
    text = " ".join(f"w{i}" for i in range(100))
    chunks = fit_tokens(text, 10)
    assert "".join(chunks) == text
    assert all(chunk.strip() for chunk in chunks)


def test_short_answers_are_padded_after_a_paragraph_break() -> None:
    chunks = fit_tokens("2 + 2 = 4", 20)
    assert "".join(chunks).startswith("2 + 2 = 4\n\n")


def test_count_tokens_counts_words() -> None:
    assert count_tokens(["What is 2 + 2?", "hi"]) == 6


@settings(max_examples=50)
@given(text=_texts(ascii_only=True))
def test_count_tokens_agrees_with_tokenize_on_ascii(text: str) -> None:
    assert count_tokens([text]) == len(tokenize(text))


def test_count_tokens_takes_any_text() -> None:
    assert count_tokens(["caf\u00e9 \ud800 x"]) == 3
