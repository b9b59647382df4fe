"""Throughput and goodput: requests per second of a window, and which requests are good."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["failed", "good", "per_second", "within"]

BoolArray = npt.NDArray[np.bool_]


def per_second(count: int, seconds: float) -> float:
    """``count`` requests over ``seconds``: 0 without requests, NaN over an empty span.

    Throughput counts the requests that completed at the protocol level (``ok``, whatever
    their answer); goodput the ``good`` ones; both over the same span.
    """
    if not count:
        return 0.0
    return count / seconds if seconds > 0 else float("nan")


def failed(ok: npt.ArrayLike, error_kind: npt.ArrayLike) -> BoolArray:
    """The error rate's requests: not ``ok``, or an ``error_kind`` other than ``none`` (give
    ``none`` where the kind is empty). A wrong answer is not an error: quality is its own
    axis."""
    kinds = np.asarray(error_kind, dtype=object)
    return np.asarray(~np.asarray(ok, dtype=bool) | (kinds != "none"), dtype=np.bool_)


def within(values: npt.ArrayLike, limit: float) -> BoolArray:
    """A per-request SLO limit holds: the value is known and at most ``limit``."""
    return np.asarray(np.asarray(values, dtype=np.float64) <= limit, dtype=np.bool_)


def good(ok: npt.ArrayLike, quality_ok: npt.ArrayLike, slos_met: npt.ArrayLike) -> BoolArray:
    """Goodput's requests: completed (``ok``), an answer that did not fail its checks
    (``quality_ok`` 1.0 or NaN when none ran) and every per-request SLO limit met."""
    quality = np.asarray(quality_ok, dtype=np.float64)
    return np.asarray(
        np.asarray(ok, dtype=bool) & (quality != 0.0) & np.asarray(slos_met, dtype=bool),
        dtype=np.bool_,
    )
