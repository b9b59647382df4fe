"""Output tokens: lossless split, and fitting an answer to an exact token count."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from qi_load.agent.tokens import count_tokens, fit_tokens, tokenize


@given(st.text())
def test_tokenize_is_lossless(text: str) -> None:
    assert "".join(tokenize(text)) == text


@given(st.text(min_size=1), st.integers(min_value=1, max_value=400))
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


@given(text=st.text(alphabet=st.characters(max_codepoint=127)))
def test_count_tokens_agrees_with_tokenize_on_ascii(text: str) -> None:
    assert count_tokens([text]) == len(tokenize(text))


def test_count_tokens_takes_any_text() -> None:
    assert count_tokens(["caf\u00e9 \ud800 x"]) == 3
