"""Each worker's clock offset to the master, measured over Locust's ZeroMQ channel.

A worker probes the master's clock NTP-style (``clock_estimate``): rounds of
``PINGS_PER_ROUND`` ping/pongs, one at a time, as soon as it has connected and every
``RESYNC_INTERVAL_S`` after. The lowest-delay sample of the last ``ROUNDS_KEPT`` rounds sets
the offset its ``RunClock`` applies, from the first answer on; a round that disagrees with
the kept samples beyond both error bounds means a clock was stepped, and only it is kept.
After each round the worker reports its offset to the master, which keeps it per worker for
run.json (``workers[].clock``).
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Final, TypeVar

import gevent
import gevent.queue
from locust.env import Environment
from locust.exception import RPCError
from locust.runners import MasterRunner, WorkerRunner

from qi_load.generate.clock_estimate import ClockSample, disagree, estimate_offset
from qi_load.generate.run_state import QiState
from qi_load.generate.wire import (
    CLOCK_OFFSET_MESSAGE,
    CLOCK_PING_MESSAGE,
    CLOCK_PONG_MESSAGE,
    ClockPing,
    ClockPong,
    ClockReport,
    ping_from_wire,
    pong_from_wire,
    report_from_wire,
    report_to_wire,
)
from qi_load.record.record_gate import RecordGate
from qi_load.record.wall_clock import wall_now

__all__ = [
    "PINGS_PER_ROUND",
    "RESYNC_INTERVAL_S",
    "ROUNDS_KEPT",
    "note_clock",
    "serve_clock",
    "sync_worker_clock",
]

logger = logging.getLogger("qi_load")

_Message = TypeVar("_Message")

PINGS_PER_ROUND: Final = 8
PING_GAP_S: Final = 0.05
"""Between the pings of a round: one pause of either process does not spoil them all."""
PONG_TIMEOUT_S: Final = 1.0
RESYNC_INTERVAL_S: Final = 10.0
"""Clocks drift (tens of ppm: about a millisecond a minute) and get stepped: measure again."""
ROUNDS_KEPT: Final = 3
"""The estimate chooses from the samples of this many latest rounds: a round measured while
either process was busy does not replace a better recent one."""
STEP_SLACK_S: Final = 0.005
"""Drift allowed between rounds before a round that disagrees with the kept samples (beyond
both error bounds) is taken for a stepped clock: the older samples are dropped."""


def sync_worker_clock(qi: QiState, runner: WorkerRunner) -> None:
    """Worker: measure the offset now and every ``RESYNC_INTERVAL_S``; apply it to ``qi.clock``."""
    pongs: gevent.queue.Queue[tuple[int, ClockSample]] = gevent.queue.Queue()

    def on_pong(environment: Environment, msg: Any, **_kw: Any) -> None:
        t4 = qi.clock.local()  # first, before anything else delays it
        pong = pong_from_wire(msg.data, t4)
        if pong is not None:
            pongs.put_nowait(pong)

    runner.register_message(CLOCK_PONG_MESSAGE, on_pong)
    qi.greenlets.append(gevent.spawn(_sync_loop, qi, runner, pongs))


def _sync_loop(
    qi: QiState, runner: WorkerRunner, pongs: gevent.queue.Queue[tuple[int, ClockSample]]
) -> None:
    window: deque[ClockSample] = deque(maxlen=PINGS_PER_ROUND * ROUNDS_KEPT)
    seq = 0
    while True:
        fresh: list[ClockSample] = []
        for _ in range(PINGS_PER_ROUND):
            seq += 1
            sample = _probe(qi, runner, pongs, seq)
            if sample is not None:
                fresh.append(sample)
                window.append(sample)
                _adopt(qi, window)
            gevent.sleep(PING_GAP_S)
        kept, latest = estimate_offset(window), estimate_offset(fresh)
        if kept is not None and latest is not None and disagree(kept, latest, STEP_SLACK_S):
            logger.info(
                "clock: offset moved by %.3f s: measuring afresh", latest.offset_s - kept.offset_s
            )
            window.clear()
            window.extend(fresh)
            _adopt(qi, window)
        if qi.clock.estimate is None:
            logger.warning("clock: the master answered no clock probe; offset unknown")
        else:
            _send(runner, CLOCK_OFFSET_MESSAGE, dict(report_to_wire(qi.clock.estimate)))
        gevent.sleep(RESYNC_INTERVAL_S)


def _adopt(qi: QiState, window: deque[ClockSample]) -> None:
    estimate = estimate_offset(window)
    if estimate is not None:
        qi.clock.adopt(estimate)


def _probe(
    qi: QiState,
    runner: WorkerRunner,
    pongs: gevent.queue.Queue[tuple[int, ClockSample]],
    seq: int,
) -> ClockSample | None:
    """One ping/pong; ``None`` when no answer came in time (a late one is skipped later)."""
    if not _send(runner, CLOCK_PING_MESSAGE, dict(ClockPing(seq=seq, t1=qi.clock.local()))):
        return None
    deadline = time.monotonic() + PONG_TIMEOUT_S
    while (left := deadline - time.monotonic()) > 0:
        try:
            item: tuple[int, ClockSample] = pongs.get(timeout=left)
        except gevent.queue.Empty:
            return None
        got, sample = item
        if got == seq:
            return sample
    return None


def _send(runner: WorkerRunner, msg_type: str, data: dict[str, Any]) -> bool:
    try:
        runner.send_message(msg_type, data)
    except RPCError as exc:
        logger.debug("clock: %s not sent: %s", msg_type, exc)
        return False
    return True


def serve_clock(qi: QiState, runner: MasterRunner, gate: RecordGate) -> None:
    """Master: answer the workers' clock probes and keep the offsets they report."""

    def on_ping(environment: Environment, msg: Any, **_kw: Any) -> None:
        t2 = qi.clock.now()
        ping = _admitted(gate, msg, ping_from_wire)
        if ping is not None:
            pong = ClockPong(seq=ping["seq"], t1=ping["t1"], t2=t2, t3=qi.clock.now())
            runner.send_message(CLOCK_PONG_MESSAGE, dict(pong), msg.node_id)

    def on_report(environment: Environment, msg: Any, **_kw: Any) -> None:
        report = _admitted(gate, msg, report_from_wire)
        if report is not None:
            note_clock(qi, msg.node_id, report)

    runner.register_message(CLOCK_PING_MESSAGE, on_ping)
    runner.register_message(CLOCK_OFFSET_MESSAGE, on_report)


def _admitted(
    gate: RecordGate, msg: Any, parse: Callable[[Any], _Message | None]
) -> _Message | None:
    """A worker's clock message parsed, or ``None`` when the gate refuses it or it is
    malformed (dropped and counted either way)."""
    if not gate.admits(msg):
        return None
    parsed = parse(msg.data)
    if parsed is None:
        gate.drops.drop("malformed", f"{msg.type} from {str(msg.node_id)[:80]}")
    return parsed


def note_clock(qi: QiState, worker_id: str, report: ClockReport) -> None:
    """Master: a worker's offset, for run.json (written at once when it is the test's first)."""
    info = {
        "offset_ms": round(report["offset_ms"], 3),
        "delay_ms": round(report["delay_ms"], 3),
        "samples": report["samples"],
        "at": wall_now(),
    }
    qi.worker_clocks[worker_id] = info
    entry = qi.workers_seen.get(worker_id)
    if entry is None:
        return
    first = entry.get("clock") is None
    entry["clock"] = info
    if first and qi.active and qi.run_dir is not None:
        qi.run_dir.update_manifest(workers=list(qi.workers_seen.values()))
