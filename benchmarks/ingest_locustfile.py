"""Locustfile of the master-ingest benchmark: workers that emit synthetic records at a set rate.

Run as real Locust workers (``--worker``) with qi-load's plugin, so records reach the master
exactly as a real worker ships them (``worker_link``: its record buffer, the batch encoding,
the HMAC when ``QI_LOAD_INGEST_KEY`` is set, inside Locust's stats report), and each record
is also logged in Locust's own stats as a real request is. No HTTP: a record costs the
worker a few microseconds, so the master, not the workers, is what saturates.

The rate comes from the stage in force: a stage named ``r<N>`` asks for N records/s in all,
shared among the stage's planned users. Each record's ``ts_start`` is the instant it was
made, so the benchmark reads a row's age (now - ``ts_start``) as the master's lag.
"""

from __future__ import annotations

import random
import time
from typing import Any, Final

import gevent
from locust import User, constant, task

from qi_load.generate import plugin
from qi_load.generate.run_state import run_state
from qi_load.generate.shape_wiring import QiShape
from qi_load.record.schema import RequestRecord

plugin.install()

__all__ = ["QiShape", "RecordSource", "rate_of"]

TICK_S: Final = 0.02
"""How often a user emits its records: small batches, as finishing requests trickle in."""
_POOL: Final = 1024
_TYPES: Final = ("simple", "code", "file", "tools", "reasoning")


def rate_of(stage: str) -> int:
    """Records/s the stage asks for in all (``r20000`` -> 20000; anything else -> 0)."""
    return int(stage[1:]) if stage.startswith("r") and stage[1:].isdigit() else 0


def _template(rng: random.Random, worker: str, user_id: int) -> tuple[Any, ...]:
    """The fields after ``ts_sched, ts_start`` of a plausible record (1 % failures)."""
    query_type = _TYPES[rng.randrange(len(_TYPES))]
    e2e = rng.uniform(200.0, 4000.0)
    ttft = rng.uniform(50.0, e2e / 2)
    tokens = rng.randrange(20, 400)
    failed = rng.random() < 0.01
    values = dict(
        worker=worker,
        user_id=user_id,
        query_type=query_type,
        name=query_type,
        conversation_id=f"c{rng.randrange(10**6)}" if rng.random() < 0.2 else "",
        turn=rng.randrange(1, 4),
        stage="",
        users=0,
        ok=not failed,
        error_kind="http" if failed else "none",
        status_code=500 if failed else 200,
        ttft_ms=None if failed else ttft,
        e2e_ms=e2e,
        tpot_ms=None if failed else (e2e - ttft) / tokens,
        itl_p50_ms=None if failed else rng.uniform(5.0, 30.0),
        itl_max_ms=None if failed else rng.uniform(30.0, 300.0),
        output_tokens=None if failed else tokens,
        input_tokens=rng.randrange(10, 2000),
        tokens_source="" if failed else "usage",
        tool_calls=rng.randrange(0, 3),
        quality_ok=None if failed else rng.random() < 0.97,
        srv_request_ms=rng.uniform(100.0, 4000.0),
        srv_tool_ms=rng.uniform(0.0, 100.0),
        srv_llm_ms=rng.uniform(100.0, 3000.0),
        srv_format_ms=rng.uniform(0.0, 5.0),
        bytes=rng.randrange(200, 20_000),
        ttfc_ms=None if failed else ttft + rng.uniform(0.0, 50.0),
        retries=0,
        trace_id=f"{rng.getrandbits(128):032x}",
        error="HTTP 500: Internal Server Error" if failed else "",
    )
    return tuple(values.values())


class RecordSource(User):
    """Emits ``rate / users`` records per second, every ``TICK_S``."""

    wait_time = constant(0)

    @task
    def emit(self) -> None:
        qi = run_state(self.environment)
        stats = self.environment.stats
        rng = random.Random()
        user_id = qi.next_user_id()
        pool = [_template(rng, qi.worker_id, user_id) for _ in range(_POOL)]
        owed, last, i = 0.0, time.monotonic(), 0
        while True:
            gevent.sleep(TICK_S)
            now = time.monotonic()
            stage, users = qi.stage_now()
            owed += rate_of(stage) / max(users, 1) * (now - last)
            last = now
            wall = time.time()
            while owed >= 1.0:
                owed -= 1.0
                fields = pool[i % _POOL]
                i += 1
                record = RequestRecord(wall, wall, *fields)
                record.stage, record.users = stage, users
                qi.record(record)
                stats.log_request("POST", record.name, record.e2e_ms or 0.0, record.bytes)
                if not record.ok:
                    stats.log_error("POST", record.name, record.error)
