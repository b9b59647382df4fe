"""Target settings: defaults, profile + flags precedence, and one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from qi_load.agent.config import DEFAULT_TIMINGS, TypeTiming, build_config, parse_timing_flag
from qi_load.errors import QiLoadError


def test_defaults_match_the_documented_timings() -> None:
    config = build_config({})
    assert config.timings == DEFAULT_TIMINGS
    assert config.timings["simple"] == TypeTiming(ttft_ms=150, itl_ms=20, output_tokens=20)
    assert config.timings["simple"].service_ms() == 150 + 19 * 20


def test_profile_then_flags_then_timing_flags(tmp_path: Path) -> None:
    profile = tmp_path / "p.yaml"
    profile.write_text(
        "slots: 3\nqueue_limit: 9\ntimings:\n  simple: {ttft_ms: 10}\n"
        "  reasoning: {ttft_ms: 1, itl_ms: 2, output_tokens: 3}\n"
    )
    config = build_config(
        {"slots": 5, "queue_limit": None}, profile=profile, timing_flags=["code_generation=7,8,9"]
    )
    assert config.slots == 5 and config.queue_limit == 9
    assert config.timings["simple"] == TypeTiming(ttft_ms=10, itl_ms=20, output_tokens=20)
    assert config.timings["reasoning"] == TypeTiming(ttft_ms=1, itl_ms=2, output_tokens=3)
    assert config.timings["code_generation"] == TypeTiming(ttft_ms=7, itl_ms=8, output_tokens=9)


def test_all_sets_every_type_and_slowdown_scales_times_not_tokens() -> None:
    config = build_config({"slowdown": 2.0}, timing_flags=["all=100,10,5"])
    assert {t.ttft_ms for t in config.timings.values()} == {100}
    assert config.timing("reasoning") == TypeTiming(ttft_ms=200, itl_ms=20, output_tokens=5)


@pytest.mark.parametrize(
    ("flag", "message"),
    [
        ("simple=1,2", "expected TYPE=TTFT_MS,ITL_MS,TOKENS"),
        ("poetry=1,2,3", "expected TYPE"),
        ("simple=a,2,3", "could not convert"),
        ("simple=1,2,0", "greater than or equal to 1"),
    ],
)
def test_bad_timing_flags(flag: str, message: str) -> None:
    with pytest.raises(QiLoadError, match=message):
        parse_timing_flag(flag)


def test_bad_values_name_the_field_and_value(tmp_path: Path) -> None:
    with pytest.raises(QiLoadError, match=r"slots: .*greater than or equal to 1 \(got 0\)"):
        build_config({"slots": 0})
    profile = tmp_path / "p.yaml"
    profile.write_text("timings:\n  poetry: {ttft_ms: 1}\n")
    with pytest.raises(QiLoadError, match=r"p.yaml: timings.poetry: unknown query type"):
        build_config({}, profile=profile)
    profile.write_text("slots: [1\n")
    with pytest.raises(QiLoadError, match=r"p.yaml:\d+:\d+: invalid YAML"):
        build_config({}, profile=profile)
    profile.write_text("slotz: 3\n")
    with pytest.raises(QiLoadError, match=r"slotz: Extra inputs are not permitted"):
        build_config({}, profile=profile)
    with pytest.raises(QiLoadError, match="agent profile file not found"):
        build_config({}, profile=tmp_path / "missing.yaml")
