"""Quality as its own axis: record building, the --quality switch, Locust's view."""

from __future__ import annotations

import argparse

import pytest

from qi_load.generate.chat import ChatResult
from qi_load.generate.quality import (
    DEFAULT_QUALITY_MODE,
    QUALITY_MODES,
    locust_failure,
    quality_mode,
    reference_agent,
)
from qi_load.generate.users import record_from_result
from qi_load.record.schema import RequestRecord


def served(*, ok: bool = True, error_kind: str = "none") -> ChatResult:
    return ChatResult(
        t_send=10.0,
        t_first=10.2,
        t_last=10.5,
        t_done=10.6,
        wall_send=1000.0,
        ok=ok,
        error_kind=error_kind,  # type: ignore[arg-type]
        error="" if ok else "HTTP 500",
        status_code=200 if ok else 500,
        content="generic text",
        output_tokens=4,
    )


def build(result: ChatResult, quality_ok: bool | None) -> RequestRecord:
    return record_from_result(
        result,
        worker="local",
        user_id=1,
        query_type="simple",
        name="simple",
        stage="s1",
        users=1,
        quality_ok=quality_ok,
    )


def test_a_wrong_answer_is_a_protocol_success_with_its_latency() -> None:
    record = build(served(), quality_ok=False)
    assert record.ok is True
    assert record.error_kind == "none"
    assert record.quality_ok is False
    assert record.e2e_ms == pytest.approx(600.0)
    assert record.ttft_ms == pytest.approx(200.0)


@pytest.mark.parametrize("quality_ok", [True, None])
def test_passed_or_unchecked_answers(quality_ok: bool | None) -> None:
    record = build(served(), quality_ok=quality_ok)
    assert (record.ok, record.error_kind, record.quality_ok) == (True, "none", quality_ok)


def test_a_protocol_error_keeps_its_kind() -> None:
    record = build(served(ok=False, error_kind="http"), quality_ok=None)
    assert (record.ok, record.error_kind, record.quality_ok) == (False, "http", None)


def test_quality_is_not_an_error_kind() -> None:
    from typing import get_args

    from qi_load.vocabulary import ErrorKind

    assert "quality" not in get_args(ErrorKind)


def record(*, ok: bool = True, quality_ok: bool | None = None) -> RequestRecord:
    return RequestRecord(
        ts_sched=0.0,
        ts_start=0.0,
        worker="local",
        user_id=1,
        query_type="simple",
        name="simple",
        ok=ok,
        error_kind="none" if ok else "timeout",
        quality_ok=quality_ok,
        error="answer lacks the result" if ok else "no first byte in 60 s",
    )


@pytest.mark.parametrize(
    ("mode", "quality_ok", "expected"),
    [
        ("record", False, None),
        ("record", True, None),
        ("off", None, None),
        ("enforce", True, None),
        ("enforce", None, None),
        ("enforce", False, "quality: answer lacks the result"),
    ],
)
def test_the_switch_decides_what_locust_counts_as_a_failure(
    mode: str, quality_ok: bool | None, expected: str | None
) -> None:
    assert locust_failure(record(quality_ok=quality_ok), mode) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize("mode", QUALITY_MODES)
def test_protocol_errors_fail_in_every_mode(mode: str) -> None:
    assert locust_failure(record(ok=False), mode) == "timeout: no first byte in 60 s"  # type: ignore[arg-type]


def test_the_switch_reads_any_options_and_defaults_to_record() -> None:
    assert quality_mode(argparse.Namespace()) == DEFAULT_QUALITY_MODE == "record"
    assert quality_mode(argparse.Namespace(quality="enforce")) == "enforce"
    assert reference_agent(argparse.Namespace(reference_agent=True)) is True
    assert quality_mode(None) == "record" and reference_agent(None) is False
