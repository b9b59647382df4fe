"""Parsing the target's start-up phase lines."""

from __future__ import annotations

from qi_load.agent.launch import parse_phases


def test_parse_phases_keeps_order_and_ignores_other_lines() -> None:
    text = "QI_PHASE process_init 12.5\nsome log\nQI_PHASE module_loading 600\nQI_PHASE ready 1.0\n"
    assert list(parse_phases(text).items()) == [
        ("process_init", 12.5),
        ("module_loading", 600.0),
        ("ready", 1.0),
    ]
