"""The requests of the progress window, kept as four numbers each instead of whole records."""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable

import numpy as np
import numpy.typing as npt

from qi_load.record.schema import RequestRecord

__all__ = ["RecentRequests"]

_NAN = math.nan


class RecentRequests:
    """End time, E2E (NaN without one), success and answer check (NaN: unchecked) of the
    requests that finished lately.

    32 bytes a request in four C arrays: keeping the records themselves (~1 KB each) for a
    60 s progress interval at 100 req/s held 6-12 MB on the master, rising between lines.
    """

    __slots__ = ("_e2e", "_end", "_ok", "_quality")

    def __init__(self, records: Iterable[RequestRecord] = ()) -> None:
        self._end = array("d")
        self._e2e = array("d")
        self._ok = array("d")
        self._quality = array("d")
        self.extend(records)

    def __len__(self) -> int:
        return len(self._end)

    def extend(self, records: Iterable[RequestRecord]) -> None:
        for r in records:
            e2e = r.e2e_ms
            # A failure without a latency ends where it started (metrics.window.request_end).
            self._end.append(r.ts_start + (e2e or 0.0) / 1000.0)
            self._e2e.append(_NAN if e2e is None or not r.ok else e2e)
            self._ok.append(1.0 if r.ok else 0.0)
            quality = r.quality_ok if r.ok else None
            self._quality.append(_NAN if quality is None else float(quality))

    def keep_since(self, since: float) -> None:
        """Forget the requests that ended before ``since``."""
        keep = self._column(self._end) >= since
        if keep.all():
            return
        for name in self.__slots__:
            column = getattr(self, name)
            setattr(self, name, array("d", self._column(column)[keep].tobytes()))

    def served(self) -> int:
        return int(self._column(self._ok).sum())

    def e2e_ms(self) -> npt.NDArray[np.float64]:
        """E2E of the successful requests that have one."""
        e2e = self._column(self._e2e)
        return e2e[~np.isnan(e2e)]

    def quality(self) -> npt.NDArray[np.float64]:
        """1 / 0 per checked answer of a successful request."""
        quality = self._column(self._quality)
        return quality[~np.isnan(quality)]

    @staticmethod
    def _column(column: array[float]) -> npt.NDArray[np.float64]:
        return np.frombuffer(column, dtype=np.float64) if len(column) else np.empty(0)
