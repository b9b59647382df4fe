"""The tools' own logic (weather lookup, calendar events, calculator, file reads), pure and fast."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import itertools
import re
from typing import Final

from qi_load.agent.arith import ExpressionError, evaluate, format_number
from qi_load.agent.sandbox import SandboxError, read_sandbox_file, summarize

__all__ = [
    "Calendar",
    "calculate",
    "extract_city",
    "extract_event_title",
    "extract_when",
    "read_file",
    "weather_report",
]

_CONDITIONS: Final = ("sunny", "partly cloudy", "overcast", "light rain", "windy", "clear")
_CITY: Final = re.compile(r"\b(?:in|for|at)\s+([A-Z][a-zA-Z]+(?:[ -][A-Z][a-zA-Z]+)*)")
_DATE: Final = re.compile(r"\b(\d{4}-\d{2}-\d{2})\b")
_CLOCK: Final = re.compile(r"\bat\s+(\d{1,2})(?::(\d{2}))?\s*(am|pm)?\b", re.IGNORECASE)
_WEEKDAYS: Final = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_TITLE: Final = re.compile(
    r"\b(?:event|meeting|appointment|reminder)\s+(?:for|called|titled|named|about)?\s*"
    r"[\"']?([\w ]{2,40}?)[\"']?(?=\s+(?:on|at|tomorrow|today|next)\b|[.,?!]|$)",
    re.IGNORECASE,
)


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8")).digest()


def weather_report(city: str) -> str:
    """Deterministic current weather for a city, e.g. `Paris: 18°C, sunny, humidity 60%`."""
    name = city.strip() or "Berlin"
    digest = _digest(name.lower())
    temperature = digest[0] % 36 - 5
    condition = _CONDITIONS[digest[1] % len(_CONDITIONS)]
    return f"{name}: {temperature}°C, {condition}, humidity {30 + digest[2] % 60}%"


class Calendar:
    """Creates events with unique ids like `evt-1a2b3c4d` (kept only as a counter)."""

    def __init__(self) -> None:
        self._sequence = itertools.count(1)

    def create(self, title: str, date: str, time: str) -> str:
        serial = next(self._sequence)
        event_id = "evt-" + _digest(f"{serial}|{title}|{date}|{time}").hex()[:8]
        return f"Created event {event_id}: {title.strip() or 'Untitled'!r} on {date} at {time}"


def calculate(expression: str) -> str:
    """`2 + 2 = 4`, or a one-line reason why it cannot be evaluated."""
    try:
        return f"{expression.strip()} = {format_number(evaluate(expression))}"
    except ExpressionError as exc:
        return f"cannot evaluate {expression.strip()!r}: {exc}"


def read_file(path: str) -> str:
    """A sandbox file's summary, or why it was refused."""
    try:
        return summarize(path, read_sandbox_file(path))
    except SandboxError as exc:
        return f"refused: {exc}"


def extract_city(text: str) -> str:
    """The city a weather question names ("weather in Paris"), Berlin by default."""
    match = _CITY.search(text)
    return match.group(1) if match else "Berlin"


def extract_event_title(text: str) -> str:
    """The event title a request names ("create an event called Team sync"), or a default."""
    match = _TITLE.search(text)
    title = match.group(1).strip() if match else ""
    return title or "Planning meeting"


def extract_when(text: str, today: dt.date) -> tuple[str, str]:
    """(ISO date, HH:MM) a request asks for: a date, today, a weekday; tomorrow 09:00 by default."""
    lowered = text.lower()
    date = today + dt.timedelta(days=1)
    if match := _DATE.search(text):
        with contextlib.suppress(ValueError):
            date = dt.date.fromisoformat(match.group(1))
    elif re.search(r"\btoday\b", lowered):
        date = today
    else:
        for index, name in enumerate(_WEEKDAYS):
            if re.search(rf"\b{name}\b", lowered):
                date = today + dt.timedelta(days=(index - today.weekday() - 1) % 7 + 1)
                break
    hour, minute = 9, 0
    if clock := _CLOCK.search(text):
        hour, minute = int(clock.group(1)), int(clock.group(2) or 0)
        suffix = (clock.group(3) or "").lower()
        if suffix == "pm" and hour < 12:
            hour += 12
        elif suffix == "am" and hour == 12:
            hour = 0
        if hour > 23 or minute > 59:
            hour, minute = 9, 0
    return date.isoformat(), f"{hour:02d}:{minute:02d}"
