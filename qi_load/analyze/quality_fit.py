"""A warning when qi-load's own answer checks mostly fail on a server that is not its agent.

The checks fit qi-load's prompts and a model that answers them (the arithmetic result, a
defined function, a structured answer). Someone else's model — a test model with random
weights, a model tuned for another task — fails them however well the server performs, and
the quality SLO then fails the verdict: the warning names the cause and the two ways to
judge speed alone, so the failure is not read as the server's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

__all__ = ["MIN_CHECKED", "MISFIT_RATE", "quality_misfit"]

MIN_CHECKED: Final = 5
"""Checked answers needed before a low pass rate says anything."""
MISFIT_RATE: Final = 0.5
"""At most this share passed: the checks, not an occasional miss, are the likely cause."""


def quality_misfit(
    checked: int,
    passed: int,
    mode: str | None,
    reference_agent: bool | None,
    ran: Mapping[str, Sequence[str]],
) -> str | None:
    """The warning for a run whose checked answers mostly failed; None when it does not apply.

    ``ran``: per query type, the checks that ran (run.json ``quality.checks[type].ran``).
    """
    if mode == "off" or reference_agent or checked < MIN_CHECKED:
        return None
    if passed > MISFIT_RATE * checked:
        return None
    names = sorted({name for checks in ran.values() for name in checks})
    which = f" ({', '.join(names)})" if names else ""
    return (
        f"answer quality: {passed} of {checked} checked answers passed qi-load's built-in "
        f"checks{which}, which expect a model that answers qi-load's own prompts correctly; "
        "if this server's model is not meant to (a test model, another task), the quality "
        "SLO fails whatever the speed: judge speed alone with --quality off, or set "
        "quality_rate_min: null in the scenario's slos"
    )
