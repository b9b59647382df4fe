"""Lost workers (master): their users come back on the others, or the stage says it ran short.

Locust's rebalancing (turned on here) restarts a dead worker's users on the others once its
heartbeat is missed (about 4 s). Until then, and whenever they do not come back, fewer users
ran than the plan says: the master samples the users really running every second from a
worker's loss on, writes that count into the ``users`` column of the rows it writes in the
meantime, and marks a stage invalid when its users were short for longer than
``USERS_BACK_S``, with the count that really ran.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from locust.env import Environment

from qi_load.record.schema import RequestRecord

__all__ = ["USERS_BACK_S", "UserGap", "WorkerLoss", "enable_rebalancing"]

USERS_BACK_S: Final = 5.0
"""A stage whose users were short longer than this after a worker loss is invalid."""


def enable_rebalancing(environment: Environment) -> None:
    """Master: a missing worker's users are restarted on the others (Locust's
    ``--enable-rebalancing``), instead of only at the next change of the user count."""
    options = environment.parsed_options
    if options is not None:
        options.enable_rebalancing = True


@dataclass
class UserGap:
    """Users short after ``worker`` was lost: from its last report to when they were back."""

    worker: str
    start: float
    lost_users: int
    end: float | None = None
    least: int | None = None
    """Fewest users the master saw running during the gap (None before the first sample)."""

    def running(self, planned: int) -> int:
        if self.least is not None:
            return min(self.least, planned)
        return max(0, planned - self.lost_users)

    def covers(self, wall: float) -> bool:
        return self.start <= wall < (math.inf if self.end is None else self.end)


@dataclass
class WorkerLoss:
    """Per test (master): the workers' last reports, and the user gaps their losses left."""

    last: dict[str, tuple[float, int]] = field(default_factory=dict)
    gaps: list[UserGap] = field(default_factory=list)

    def reported(self, worker: str, data: dict[str, Any], wall: float) -> None:
        """A worker's stats report: when it was last heard of, and how many users it ran."""
        users = data.get("user_count")
        if isinstance(users, int) and not isinstance(users, bool):
            self.last[worker] = (wall, users)

    def lost(self, worker: str, wall: float) -> None:
        """A worker stopped heart-beating (or left): its users stopped at its last report."""
        seen, users = self.last.pop(worker, (wall, 0))
        if users > 0:
            self.gaps.append(UserGap(worker=worker, start=min(seen, wall), lost_users=users))

    def sample(self, wall: float, planned: int, running: int) -> None:
        """Once a second: an open gap closes when the users running reach the plan again."""
        for gap in self.gaps:
            if gap.end is not None:
                continue
            if running >= planned:
                gap.end = wall
            else:
                gap.least = running if gap.least is None else min(gap.least, running)

    def correct(self, records: Iterable[RequestRecord]) -> None:
        """The ``users`` of rows started in a gap: the users that ran, not the plan's."""
        if not self.gaps:
            return
        for record in records:
            for gap in self.gaps:
                if gap.covers(record.ts_start):
                    record.users = min(record.users, gap.running(record.users))

    def invalid_stages(self, marks: Sequence[dict[str, Any]], end: float) -> dict[str, str]:
        """Stage name -> why it is invalid, for stages whose users were short too long."""
        reasons: dict[str, str] = {}
        for gap in self.gaps:
            gap_end = end if gap.end is None else gap.end
            for mark in marks:
                start, stop = max(gap.start, mark["start"]), min(gap_end, mark["end"])
                if stop - start <= USERS_BACK_S or mark["name"] in reasons:
                    continue
                planned = int(mark["users"])
                reasons[mark["name"]] = (
                    f"worker {gap.worker} lost: {gap.running(planned)} of {planned} users ran "
                    f"for {stop - start:.1f} s (not back within {USERS_BACK_S:g} s)"
                )
        return reasons
