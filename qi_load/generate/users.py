"""Locust users that behave like the people who use an AI agent, one record per request.

``AgentUser`` draws each request's query type from the stage's mix (so a 1-user stage still
sees every type), holds multi-turn conversations for the mix key ``conversation``, and runs
the count-bounded sequence of a stage with ``sequence`` (the response-time benchmark).
``SimpleUser`` … ``ReasoningUser`` fix one query type; ``ConversationUser`` only converses.

Every request yields exactly one ``RequestRecord`` (handed to the plugin, which ships it to
the master) and one Locust ``request`` event with the E2E time, so Locust's Aggregated line
counts requests once. A request still in flight when Locust stops its user (the end of a
test, a ramp-down) becomes a ``cancelled`` record and no Locust event: it never finished.
"""

from __future__ import annotations

import itertools
import random
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

import gevent
from gevent import GreenletExit
from locust import User, task
from locust.runners import WorkerRunner

from qi_load.generate.chat import ChatClient, ChatResult
from qi_load.generate.open_loop import OpenSchedule, first_gap_s
from qi_load.generate.plan import PlannedStage
from qi_load.generate.quality import locust_failure, quality_mode
from qi_load.generate.queries import Query, QueryCatalogue, catalogue_from_options
from qi_load.generate.run_state import PLAN_OVER_IDLE_S, MixTable, QiState, run_state
from qi_load.generate.shared_options import chat_config
from qi_load.generate.wire import SEQUENCE_DONE_MESSAGE
from qi_load.record.schema import RequestRecord
from qi_load.scenario import Scenario
from qi_load.vocabulary import CONVERSATION, QUERY_TYPES

__all__ = [
    "AgentUser",
    "CodeGenerationUser",
    "ConversationUser",
    "FileOperationsUser",
    "MultiToolUser",
    "ReasoningUser",
    "SimpleUser",
    "cancellation_recorded",
    "first_start_delay_s",
    "idled_past_plan",
    "record_from_result",
    "report_record",
]

_SPAWN_INTERVAL_S = 1.0
"""Locust's users dispatcher starts a batch of floor(spawn_rate) users once a second."""


def first_start_delay_s(
    scenario: Scenario, stage: PlannedStage | None, rng: random.Random, users: int
) -> float:
    """Seconds a new user waits before its first request.

    Locust starts floor(spawn_rate) users in the same instant, once a second; without an offset
    their requests would stay in lockstep for the whole run (see docs/locust.md), so a closed
    loop spreads them over at least that second. A step without think time (a sweep's
    synchronous and throughput steps) does the same whatever the arrival: an open-loop gap at
    the scenario's rate can be longer than the step and would leave its users unstarted. An
    open loop's first start is one gap away (evenly spread over one for `constant` gaps), so
    a stage's users do not all send in the instant they spawn.
    """
    if stage is not None and stage.no_think:
        return rng.uniform(0.0, _SPAWN_INTERVAL_S)
    if scenario.arrival.mode == "closed":
        return rng.uniform(0.0, max(_SPAWN_INTERVAL_S, scenario.think_time.sample(rng)))
    rate = stage.rate if stage is not None else 0.0
    return first_gap_s(scenario.arrival, rng, users, rate or None)


def _catalogue(qi: QiState) -> QueryCatalogue:
    """The run's prompts and checks, built by its first user."""
    if qi.catalogue is None:
        qi.catalogue = catalogue_from_options(qi.options)
    return qi.catalogue


def record_from_result(
    result: ChatResult,
    *,
    worker: str,
    user_id: int,
    query_type: str,
    name: str,
    stage: str,
    users: int,
    ts_sched: float | None = None,
    quality_ok: bool | None = None,
    conversation_id: str = "",
    turn: int = 0,
) -> RequestRecord:
    """The ``requests.csv`` row of one measured request.

    ``ok`` is the protocol outcome alone; the answer's check is ``quality_ok`` (None when no
    check ran), so a served but wrong answer still counts for latency and throughput.
    """
    phases = result.server_phases
    return RequestRecord(
        ts_sched=result.wall_send if ts_sched is None else ts_sched,
        ts_start=result.wall_send,
        worker=worker,
        user_id=user_id,
        query_type=query_type,
        name=name,
        conversation_id=conversation_id,
        turn=turn,
        stage=stage,
        users=users,
        ok=result.ok,
        error_kind=result.error_kind if not result.ok else "none",
        status_code=result.status_code,
        ttft_ms=result.ttft_ms,
        e2e_ms=result.e2e_ms,
        tpot_ms=result.tpot_ms,
        itl_p50_ms=result.itl_p50_ms,
        itl_max_ms=result.itl_max_ms,
        output_tokens=result.output_tokens,
        input_tokens=result.input_tokens,
        tokens_source=result.tokens_source,  # type: ignore[arg-type]
        tool_calls=result.tool_calls,
        quality_ok=quality_ok,
        srv_request_ms=phases.get("request"),
        srv_tool_ms=phases.get("tool"),
        srv_llm_ms=phases.get("llm"),
        srv_format_ms=phases.get("format"),
        bytes=result.bytes,
        ttfc_ms=result.ttfc_ms,
        retries=result.retries,
        trace_id=result.trace_id,
        error=result.error,
    )


def _mix_table(qi: QiState, stage: PlannedStage | None) -> MixTable:
    """Query types and cumulative weights in force, computed once per stage (hot path)."""
    scenario = qi.scenario
    key = tuple(stage.mix.items()) if stage is not None else ()
    table = qi.mix_tables.get(key)
    if table is None:
        mix: dict[str, float] = dict(stage.mix) if stage is not None and stage.mix else {}
        if not mix and scenario is not None:
            mix = dict(scenario.mix)
        if not mix:
            mix = dict.fromkeys(QUERY_TYPES, 1.0)
        names = [name for name, weight in mix.items() if weight > 0]
        table = names, list(itertools.accumulate(mix[name] for name in names))
        qi.mix_tables[key] = table
    return table


class _SequenceRun:
    """The count-bounded run of a ``sequence`` stage: each type ``per_type`` times, in order;
    for ``conversation``, ``per_type`` whole conversations of ``turns`` messages."""

    def __init__(self, stage: PlannedStage, conversation_turns: int) -> None:
        types = [t for t in stage.mix if stage.mix[t] > 0] or list(QUERY_TYPES)
        self.stage_name = stage.name
        self.pause_s = stage.sequence_pause_s
        steps = [
            t
            for t in types
            for _ in range(
                stage.sequence_per_type * (conversation_turns if t == CONVERSATION else 1)
            )
        ]
        self._queue: Iterator[str] = iter(steps)

    def next_type(self) -> str | None:
        return next(self._queue, None)


class AgentUser(User):
    """A person using the agent: one request at a time, thinking in between (closed loop), or
    requests started on a schedule (open loop, so a backlog shows as schedule delay)."""

    fixed_query_type: ClassVar[str | None] = None
    """Subclasses pin one query type; ``None`` draws from the stage's mix."""

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        self.qi = run_state(environment)
        self.user_id = self.qi.next_user_id()
        self.rng = random.Random()
        self.client = ChatClient(
            chat_config(self.qi.options, self.qi.scenario, self.host or ""), clock=self.qi.clock.now
        )
        self.catalogue = _catalogue(self.qi)
        self.quality = quality_mode(self.qi.options)
        self._next_sched = self.qi.clock.now()
        self._conversation: list[dict[str, Any]] = []
        self._conversation_id = ""
        self._turn = 0
        self._sequence: _SequenceRun | None = None
        self._sequence_done: set[str] = set()
        self._open: OpenSchedule | None = None

    @property
    def scenario(self) -> Scenario | None:
        return self.qi.scenario

    def on_start(self) -> None:
        self.qi.clock.wait_synced()
        scenario = self.scenario
        if scenario is not None:
            _, users = self.qi.stage_now()
            gevent.sleep(first_start_delay_s(scenario, self.qi.current_stage(), self.rng, users))
        self._next_sched = self.qi.clock.now()
        if scenario is not None and scenario.arrival.mode == "open":
            self._open = OpenSchedule(scenario.arrival, self.rng, self._next_sched)

    def on_stop(self) -> None:
        self.client.close()

    def wait_time(self) -> float:
        scenario = self.scenario
        if self._sequence is not None:
            return self._sequence.pause_s
        if scenario is None:
            return 0.0
        stage = self.qi.current_stage()
        if stage is not None and stage.no_think:
            return 0.0
        if self._open is not None:
            _, users = self.qi.stage_now()
            name, rate = (stage.name, stage.rate) if stage is not None else ("", 0.0)
            return self._open.wait_s(self.qi.clock.now(), users, name, rate)
        return scenario.think_time.sample(self.rng)

    def _open_schedule(self, stage: PlannedStage | None) -> OpenSchedule | None:
        """The open-loop schedule in force: none in the closed loop, nor in a step without
        think time (a sweep's synchronous and throughput steps)."""
        return None if stage is not None and stage.no_think else self._open

    @task
    def act(self) -> None:
        if idled_past_plan(self.qi):
            return
        stage = self.qi.current_stage()
        schedule = self._open_schedule(stage)
        if schedule is not None:
            if not schedule.due(self.qi.clock.now()):
                return  # woke to look at a step's rate: not due yet
            self._next_sched = schedule.next
            schedule.sent()
        if stage is not None and stage.sequence_per_type > 0:
            self._run_sequence_step(stage)
            return
        self._sequence = None
        query_type = self.fixed_query_type or self._pick_type(stage)
        if query_type == CONVERSATION:
            self._conversation_turn()
        else:
            query = self.catalogue.pick(query_type, self.rng)
            self._ask(query, [{"role": "user", "content": query.prompt}])

    def _pick_type(self, stage: PlannedStage | None) -> str:
        names, cum_weights = _mix_table(self.qi, stage)
        return self.rng.choices(names, cum_weights=cum_weights)[0]

    def _run_sequence_step(self, stage: PlannedStage) -> None:
        if stage.name in self._sequence_done:
            gevent.sleep(1.0)
            return
        if self._sequence is None or self._sequence.stage_name != stage.name:
            turns = self.scenario.conversation.turns if self.scenario else 5
            self._sequence = _SequenceRun(stage, turns)
            self._conversation_id = ""
        query_type = self._sequence.next_type()
        if query_type is None:
            self._sequence_done.add(stage.name)
            self._sequence = None
            self._finish_sequence(stage.name)
            return
        if query_type == CONVERSATION:
            self._conversation_turn()
            return
        query = self.catalogue.pick(query_type, self.rng)
        self._ask(query, [{"role": "user", "content": query.prompt}])

    def _finish_sequence(self, stage_name: str) -> None:
        """A sequence stage ends when its requests are done, not when its time budget is."""
        runner = self.environment.runner
        if isinstance(runner, WorkerRunner):
            runner.send_message(SEQUENCE_DONE_MESSAGE, {"stage": stage_name})
        else:
            self.qi.finish_sequence(stage_name)

    def _conversation_turn(self) -> None:
        scenario = self.scenario
        turns = scenario.conversation.turns if scenario else 5
        types = scenario.conversation.query_types if scenario else list(QUERY_TYPES)
        if not self._conversation_id or self._turn >= turns:
            self._conversation = []
            self._conversation_id = uuid.uuid4().hex[:12]
            self._turn = 0
        query_type = types[self._turn % len(types)]
        query = self.catalogue.pick(query_type, self.rng)
        self._turn += 1
        self._conversation.append({"role": "user", "content": query.prompt})
        result = self._ask(
            query,
            list(self._conversation),
            record_type=CONVERSATION,
            conversation_id=self._conversation_id,
            turn=self._turn,
        )
        if result.ok:
            self._conversation.append({"role": "assistant", "content": result.content})
        else:
            # The agent has no answer to carry on from: start afresh next time.
            self._conversation_id = ""

    def _ask(
        self,
        query: Query,
        messages: list[dict[str, Any]],
        *,
        record_type: str | None = None,
        conversation_id: str = "",
        turn: int = 0,
    ) -> ChatResult:
        open_loop = self._open_schedule(self.qi.current_stage()) is not None
        ts_sched = self._next_sched if open_loop else None
        with cancellation_recorded(
            self.qi,
            user_id=self.user_id,
            query_type=record_type or query.query_type,
            name=query.query_type,
            ts_sched=ts_sched,
            conversation_id=conversation_id,
            turn=turn,
        ):
            result = self.client.complete(
                messages,
                query_type=query.query_type,
                baggage=self.qi.trace_baggage(
                    self.user_id,
                    record_type or query.query_type,
                    conversation_id,
                ),
            )
        quality_ok: bool | None = None
        reason = ""
        if result.ok and self.quality != "off":
            quality_ok, reason = query.check(
                result.content, result.output_tokens, reference_agent=result.from_reference_agent
            )
        stage, users = self.qi.stage_now(result.wall_send)
        record = record_from_result(
            result,
            worker=self.qi.worker_id,
            user_id=self.user_id,
            query_type=record_type or query.query_type,
            name=query.query_type,
            stage=stage,
            users=users,
            ts_sched=min(ts_sched, result.wall_send) if ts_sched is not None else None,
            quality_ok=quality_ok,
            conversation_id=conversation_id,
            turn=turn,
        )
        if quality_ok is False:
            record.error = reason
        self._report(record)
        return result

    def _report(self, record: RequestRecord) -> None:
        report_record(self.environment, self.qi, record)


def idled_past_plan(qi: QiState) -> bool:
    """Whether the plan is over; then the user has idled a moment instead of a task: the
    master quits soon, and a request started now would belong to no stage."""
    if not qi.plan_over():
        return False
    gevent.sleep(PLAN_OVER_IDLE_S)
    return True


def report_record(environment: Any, qi: QiState, record: RequestRecord) -> None:
    """Fire Locust's one request event (E2E as its response time), hand the record over."""
    name = record.name if not record.conversation_id else f"conversation/{record.name}"
    failure = locust_failure(record, quality_mode(qi.options))
    exception = None if failure is None else RuntimeError(failure)
    environment.events.request.fire(
        request_type="POST",
        name=name,
        response_time=record.e2e_ms or 0.0,
        response_length=record.bytes,
        exception=exception,
        context={"stage": record.stage},
    )
    qi.record(record)


@contextmanager
def cancellation_recorded(
    qi: QiState,
    *,
    user_id: int,
    query_type: str,
    name: str,
    ts_sched: float | None = None,
    conversation_id: str = "",
    turn: int = 0,
) -> Iterator[None]:
    """Record the request made inside as ``cancelled`` when Locust kills the user during it.

    Its elapsed time until then goes in ``e2e_ms``; no Locust event is fired (Locust never
    counts a request it interrupted), so Locust's count plus the cancelled rows is the rows.
    """
    wall, started = qi.clock.now(), time.perf_counter()
    try:
        yield
    except GreenletExit:
        stage, users = qi.stage_now(wall)
        qi.record(
            RequestRecord(
                ts_sched=wall if ts_sched is None else min(ts_sched, wall),
                ts_start=wall,
                worker=qi.worker_id,
                user_id=user_id,
                query_type=query_type,
                name=name,
                conversation_id=conversation_id,
                turn=turn,
                stage=stage,
                users=users,
                ok=False,
                error_kind="cancelled",
                e2e_ms=(time.perf_counter() - started) * 1000.0,
                error="cancelled: in flight when Locust stopped the user",
            )
        )
        raise


class SimpleUser(AgentUser):
    fixed_query_type = "simple"


class CodeGenerationUser(AgentUser):
    fixed_query_type = "code_generation"


class FileOperationsUser(AgentUser):
    fixed_query_type = "file_operations"


class MultiToolUser(AgentUser):
    fixed_query_type = "multi_tool"


class ReasoningUser(AgentUser):
    fixed_query_type = "reasoning"


class ConversationUser(AgentUser):
    fixed_query_type = CONVERSATION
