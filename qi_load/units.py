"""The one memory unit of qi-load: a megabyte is 10**6 bytes (SI), as the methodology's MB."""

from __future__ import annotations

from typing import Final

__all__ = ["MB"]

MB: Final = 1_000_000
"""Bytes in one MB: every figure labelled MB (reports, targets, alerts, the reference
agent's ``--leak-mb-per-min`` and ``--cache-mb``) uses it."""
