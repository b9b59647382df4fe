"""The quality-misfit warning with plain numbers: when qi-load's checks likely do not fit."""

from __future__ import annotations

from qi_load.analyze.quality_fit import MIN_CHECKED, quality_misfit

RAN = {"simple": ["arithmetic_result"], "reasoning": ["structured_answer", "min_tokens_150"]}


def test_mostly_failed_checks_on_another_server_name_the_checks_and_the_ways_out() -> None:
    text = quality_misfit(22, 0, "record", False, RAN)
    assert text is not None
    assert text.startswith("answer quality: 0 of 22 checked answers passed qi-load's built-in")
    assert "(arithmetic_result, min_tokens_150, structured_answer)" in text
    assert "--quality off" in text and "quality_rate_min: null" in text
    assert quality_misfit(10, 5, "enforce", None, {}) is not None  # half: still the checks


def test_no_warning_when_it_does_not_apply() -> None:
    assert quality_misfit(22, 12, "record", False, RAN) is None  # most passed: a real miss
    assert quality_misfit(22, 0, "record", True, RAN) is None  # the reference agent: its bug
    assert quality_misfit(22, 0, "off", False, RAN) is None
    assert quality_misfit(MIN_CHECKED - 1, 0, "record", False, RAN) is None  # too few
