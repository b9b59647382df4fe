"""Answer quality as its own axis: the ``--quality`` switch and what a failed check means.

A request that completes at the protocol level is ``ok`` whatever its answer; ``quality_ok``
records the answer's check. The switch only decides whether checks run and whether a
failed check is also reported to Locust as a failure (pure: no Locust or gevent imports).
The option itself is ``LoadOptions.quality``.
"""

from __future__ import annotations

import argparse
from typing import Any, Final, Literal, cast

from qi_load.record.schema import RequestRecord

__all__ = [
    "DEFAULT_QUALITY_MODE",
    "QUALITY_MODES",
    "QualityMode",
    "locust_failure",
    "quality_mode",
    "reference_agent",
]

QualityMode = Literal["enforce", "record", "off"]
QUALITY_MODES: Final[tuple[QualityMode, ...]] = ("enforce", "record", "off")
DEFAULT_QUALITY_MODE: Final[QualityMode] = "record"
"""Latency and throughput stay a load test's first answer: a wrong answer is recorded (and
judged by the quality SLO in the report) but does not turn Locust's failure count red."""


def quality_mode(options: argparse.Namespace | Any) -> QualityMode:
    """The ``--quality`` mode of parsed options (the default without the option)."""
    mode = getattr(options, "quality", None) if options is not None else None
    return cast(QualityMode, mode) if mode in QUALITY_MODES else DEFAULT_QUALITY_MODE


def reference_agent(options: argparse.Namespace | Any) -> bool:
    """Whether the options declare the target to be the reference agent."""
    return bool(getattr(options, "reference_agent", False)) if options is not None else False


def locust_failure(record: RequestRecord, mode: QualityMode) -> str | None:
    """The failure Locust should count for ``record``, or None for a Locust success.

    A protocol error always fails; a failed answer check fails only under ``enforce``.
    """
    if not record.ok:
        return f"{record.error_kind}: {record.error}"
    if mode == "enforce" and record.quality_ok is False:
        return f"quality: {record.error}"
    return None
