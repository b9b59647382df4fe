"""The tools' logic and the request parsing that feeds them."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from qi_load.agent.tools import (
    Calendar,
    calculate,
    extract_city,
    extract_event_title,
    extract_when,
    read_file,
    weather_report,
)


def test_weather_is_deterministic_and_has_a_temperature() -> None:
    report = weather_report("Paris")
    assert report == weather_report("Paris")
    assert re.fullmatch(r"Paris: -?\d+°C, [a-z ]+, humidity \d+%", report)


def test_calendar_ids_are_unique_and_shaped() -> None:
    calendar = Calendar()
    first = calendar.create("Sync", "2025-01-02", "09:00")
    second = calendar.create("Sync", "2025-01-02", "09:00")
    ids = [re.search(r"evt-[0-9a-f]{8}", text) for text in (first, second)]
    assert all(ids) and ids[0].group() != ids[1].group()  # type: ignore[union-attr]


def test_calculate_and_read_file_report_failures_in_words() -> None:
    assert calculate("2 + 2") == "2 + 2 = 4"
    assert "division by zero" in calculate("1/0")
    assert read_file("../secret").startswith("refused:")
    assert "qi-sample-app" in read_file("package.json")


@pytest.mark.parametrize(
    ("text", "city", "title"),
    [
        ("Check the weather and create a calendar event", "Berlin", "Planning meeting"),
        ("Weather in New York, then an event called Team sync on friday", "New York", "Team sync"),
    ],
)
def test_extracts_city_and_title(text: str, city: str, title: str) -> None:
    assert extract_city(text) == city
    assert extract_event_title(text) == title


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("an event", ("2025-01-02", "09:00")),
        ("today at 12:30", ("2025-01-01", "12:30")),
        ("on friday at 3pm", ("2025-01-03", "15:00")),
        ("on wednesday", ("2025-01-08", "09:00")),
        ("on 2025-02-03 at 12am", ("2025-02-03", "00:00")),
        ("at 99", ("2025-01-02", "09:00")),
    ],
)
def test_extracts_when(text: str, expected: tuple[str, str]) -> None:
    assert extract_when(text, dt.date(2025, 1, 1)) == expected  # a Wednesday
