"""The SSE decoder: line ends, fields, BOM, and splits at every byte position."""

from __future__ import annotations

import itertools
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qi_load.generate.sse import SseDecoder, SseError, SseEvent


def decode(*chunks: bytes) -> list[SseEvent]:
    decoder = SseDecoder()
    events: list[SseEvent] = []
    for chunk in chunks:
        events.extend(decoder.feed(chunk))
    return events


def split_everywhere(stream: bytes) -> None:
    whole = decode(stream)
    for i in range(len(stream) + 1):
        assert decode(stream[:i], stream[i:]) == whole, f"split at {i}"
    assert decode(*(stream[i : i + 1] for i in range(len(stream)))) == whole


def test_lf_crlf_and_cr_line_ends_decode_alike() -> None:
    for eol in (b"\n", b"\r\n", b"\r"):
        stream = eol.join([b"data: a", b"data:b", b"", b"event: x", b"data: c", b"", b""])
        assert decode(stream) == [SseEvent("a\nb"), SseEvent("c", event="x")]


def test_cr_at_chunk_end_then_lf_is_one_line_end() -> None:
    assert decode(b"data: a\r", b"\n\r", b"\ndata: b\r\n\r\n") == [
        SseEvent("a"),
        SseEvent("b"),
    ]


def test_comments_ids_retry_and_unknown_fields() -> None:
    stream = (
        b": keep-alive\n\n"
        b"id: 7\nretry: 1500\nfoo: bar\ndata\n\n"
        b"retry: soon\ndata: x\n\n"
        b"id\ndata: y\n\n"
    )
    assert decode(stream) == [
        SseEvent("", id="7", retry=1500),
        SseEvent("x", id="7"),
        SseEvent("y", id=""),
    ]


def test_field_without_space_and_colons_in_value() -> None:
    assert decode(b'data:{"a": "b:c"}\n\n') == [SseEvent('{"a": "b:c"}')]
    assert decode(b"data:  two spaces\n\n") == [SseEvent(" two spaces")]


def test_id_with_nul_is_ignored() -> None:
    assert decode(b"id: 1\n\nid: a\x00b\ndata: z\n\n") == [SseEvent("z", id="1")]


def test_leading_bom_is_stripped_once_even_split() -> None:
    stream = b"\xef\xbb\xbfdata: a\n\n"
    split_everywhere(stream)
    assert decode(stream) == [SseEvent("a")]
    # a second BOM is data, not a BOM
    assert decode(b"\xef\xbb\xbf\xef\xbb\xbfdata: a\n\n") == []


def test_multibyte_utf8_split_at_every_byte() -> None:
    stream = "data: température 18°C — ok 🙂\n\ndata: 日本\r\n\r\n".encode()
    split_everywhere(stream)
    assert decode(stream) == [SseEvent("température 18°C — ok 🙂"), SseEvent("日本")]


def test_openai_like_stream_split_at_every_byte() -> None:
    stream = (
        b'data: {"choices":[{"delta":{"role":"assistant"}}]}\n\n'
        b'data: {"choices":[{"delta":{"content":"Hi"}}]}\r\n\r\n'
        b": ping\r"
        b"\rdata: [DONE]\n\n"
    )
    split_everywhere(stream)
    assert [e.data for e in decode(stream)][-1] == "[DONE]"
    assert len(decode(stream)) == 3


def test_real_server_payloads_split_at_every_byte() -> None:
    # llama.cpp (role chunk with null content, held-back UTF-8 sent whole, usage chunk with
    # empty choices and timings), vLLM reasoning, tool-call argument pieces, a ping comment.
    events = [
        '{"choices":[{"index":0,"delta":{"role":"assistant","content":null}}]}',
        '{"choices":[{"index":0,"delta":{"content":"é 🙂"}}]}',
        '{"choices":[{"index":0,"delta":{"reasoning_content":"18°C"}}]}',
        '{"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"function":'
        '{"arguments":"{\\"city\\": \\"Zürich"}}]}}]}',
        '{"choices":[],"usage":{"completion_tokens":3},"timings":{"predicted_ms":2.5}}',
        "[DONE]",
    ]
    stream = b": ping\n\n" + b"".join(f"data: {e}\n\n".encode() for e in events)
    split_everywhere(stream)
    assert [e.data for e in decode(stream)] == events


def test_close_reports_mid_event() -> None:
    decoder = SseDecoder()
    assert decoder.feed(b"data: a\n\ndata: b") == [SseEvent("a")]
    assert decoder.close() is True
    decoder = SseDecoder()
    decoder.feed(b"data: a\n")
    assert decoder.close() is True  # a field without its blank line
    decoder = SseDecoder()
    decoder.feed(b"data: a\n\n: trailing comment\n")
    assert decoder.close() is False
    assert SseDecoder().close() is False


def test_invalid_utf8_is_replaced_not_raised() -> None:
    assert decode(b"data: \xff\xfe\n\n") == [SseEvent("\ufffd\ufffd")]


def test_invalid_utf8_raises_when_strict_wherever_the_stream_is_cut() -> None:
    stream = b"data: ok\n\ndata: a\xffb\n\n"
    for i in range(len(stream) + 1):
        decoder = SseDecoder(strict=True)
        with pytest.raises(SseError, match="invalid UTF-8"):
            decoder.feed(stream[:i])
            decoder.feed(stream[i:])
    # valid multi-byte characters cut anywhere stay valid
    text = "data: 18°C 🙂\n\n".encode()
    for i in range(len(text) + 1):
        decoder = SseDecoder(strict=True)
        assert decoder.feed(text[:i]) + decoder.feed(text[i:]) == [SseEvent("18°C 🙂")]


@pytest.mark.parametrize("eol", [b"\n", b"\r\n", b"\r"])
def test_a_line_longer_than_the_cap_raises_however_it_arrives(eol: bytes) -> None:
    line = b"data: " + b"x" * 100
    for chunking in (1, 7, len(line) + len(eol)):
        decoder = SseDecoder(max_line=64)
        stream = line + eol + eol
        with pytest.raises(SseError, match="line longer than 64 bytes"):
            for i in range(0, len(stream), chunking):
                decoder.feed(stream[i : i + chunking])
    # a line of exactly the cap passes, split anywhere
    exact = b"data: " + b"y" * 58 + eol + eol
    for i in range(len(exact) + 1):
        decoder = SseDecoder(max_line=64)
        assert decoder.feed(exact[:i]) + decoder.feed(exact[i:]) == [SseEvent("y" * 58)]


def test_an_event_whose_data_lines_exceed_the_cap_raises() -> None:
    decoder = SseDecoder(max_line=64, max_event=100)
    decoder.feed(b"data: " + b"a" * 50 + b"\n")
    with pytest.raises(SseError, match="exceed 100 bytes"):
        decoder.feed(b"data:" + b"b" * 50 + b"\n")
    # the count starts again with each event
    decoder = SseDecoder(max_line=64, max_event=100)
    for _ in range(10):
        assert decoder.feed(b"data: " + b"a" * 50 + b"\n\n") == [SseEvent("a" * 50)]


def _seconds_to_decode(line_bytes: int, piece: int) -> float:
    decoder = SseDecoder(max_line=line_bytes + 16, max_event=line_bytes + 16)
    chunk = b"x" * piece
    started = time.process_time()
    decoder.feed(b"data: ")
    for _ in range(line_bytes // piece):
        decoder.feed(chunk)
    assert decoder.feed(b"\n\n") == [SseEvent("x" * (line_bytes // piece * piece))]
    return time.process_time() - started


def test_a_long_line_in_small_pieces_decodes_in_linear_time() -> None:
    # 4 MiB in 64-byte reads: the old decoder re-joined the pending line at every read
    # (quadratic: ~10^11 bytes copied, minutes); linear, it is the work of 512 KiB times 8.
    small, big = _seconds_to_decode(1 << 19, 64), _seconds_to_decode(4 << 20, 64)
    assert big < 2.0, big
    assert big < 8 * small * 3 + 0.2, (small, big)


_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n\x00"),
    max_size=12,
)
_events = st.lists(
    st.tuples(
        st.lists(_text, min_size=1, max_size=3),  # data lines
        st.one_of(st.none(), _text.filter(lambda s: s != "")),  # event type
        st.one_of(st.none(), _text),  # id
        st.one_of(st.none(), st.integers(0, 10**6)),  # retry
        st.booleans(),  # a comment before the event
    ),
    max_size=6,
)


# Each example is decoded twice, at the drawn cuts and a byte at a time: 50 examples cover
# what 100 did with the drawn cuts alone, and drawing the examples is most of the cost.
@settings(max_examples=50, deadline=None)
@given(
    events=_events,
    eol=st.sampled_from([b"\n", b"\r\n", b"\r"]),
    bom=st.booleans(),
    cuts=st.lists(st.integers(0, 10**6), max_size=8),
)
def test_property_any_split_decodes_to_the_same_events(
    events: list[tuple[list[str], str | None, str | None, int | None, bool]],
    eol: bytes,
    bom: bool,
    cuts: list[int],
) -> None:
    parts: list[bytes] = [b"\xef\xbb\xbf"] if bom else []
    expected: list[SseEvent] = []
    last_id: str | None = None
    for data_lines, event_type, event_id, retry, comment in events:
        if comment:
            parts.append(b": note" + eol)
        if event_type is not None:
            parts.append(b"event: " + event_type.encode() + eol)
        if event_id is not None:
            parts.append(b"id: " + event_id.encode() + eol)
            last_id = event_id
        if retry is not None:
            parts.append(b"retry: " + str(retry).encode() + eol)
        for line in data_lines:
            parts.append(b"data: " + line.encode() + eol)
        parts.append(eol)
        expected.append(
            SseEvent("\n".join(data_lines), event=event_type or "message", id=last_id, retry=retry)
        )
    stream = b"".join(parts)
    positions = sorted({c % (len(stream) + 1) for c in cuts} | {0, len(stream)})
    chunks = [stream[a:b] for a, b in itertools.pairwise(positions)]
    decoder = SseDecoder()
    got: list[SseEvent] = []
    for chunk in chunks:
        got.extend(decoder.feed(chunk))
    assert got == expected
    assert decoder.close() is False
    assert decode(*(stream[i : i + 1] for i in range(len(stream)))) == expected
