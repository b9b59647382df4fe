"""The scenario: stages, query mix, think time, arrival, SLOs, targets and alerts, from YAML."""

from __future__ import annotations

import copy
import math
import random
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, ClassVar, Final, Literal, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from qi_load.errors import ConfigError
from qi_load.monitor.alert_rules import DEFAULT_RULES, AlertRule, with_slo_thresholds
from qi_load.targets import Targets
from qi_load.vocabulary import MIX_KEYS, QUERY_TYPES, WARMUP_STAGE
from qi_load.yamlconf import (
    FieldError,
    load_model,
    suggest,
)

__all__ = [
    "DEFAULT_MIX",
    "DEFAULT_QUALITY_RATE_MIN",
    "DEFAULT_SLOS",
    "MIN_STAGE_S",
    "SCENARIO_DIR",
    "AlertRule",
    "Arrival",
    "Conversation",
    "Limits",
    "Monitor",
    "RequestSequence",
    "Scenario",
    "Search",
    "Slo",
    "Stage",
    "Sweep",
    "ThinkTime",
    "available_scenarios",
    "load_scenario",
    "packaged_scenario_path",
    "resolve_scenario",
]

MIN_STAGE_S: Final = 1.0
"""Shortest stage after ``time_scale``: Locust applies a shape once per second."""
SCENARIO_DIR: Final = Path(__file__).parent / "scenarios"
"""The packaged scenarios (the repository's ``scenarios/`` links here)."""

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def _check_mix_key(key: str) -> str:
    if key not in MIX_KEYS:
        raise ValueError(
            f"unknown query type {key!r}{suggest(key, MIX_KEYS)}; "
            f"expected one of {', '.join(MIX_KEYS)}"
        )
    return key


def _check_query_type(key: str) -> str:
    if key not in QUERY_TYPES:
        raise ValueError(
            f"unknown query type {key!r}{suggest(key, QUERY_TYPES)}; "
            f"expected one of {', '.join(QUERY_TYPES)}"
        )
    return key


def _check_label(name: str) -> str:
    if not _NAME.match(name):
        raise ValueError(
            f"{name!r} is not a usable label; use letters, digits, '-', '_' or '.', "
            "starting with a letter or digit"
        )
    return name


def _check_mix(mix: dict[str, float]) -> dict[str, float]:
    if not any(weight > 0 for weight in mix.values()):
        raise ValueError(
            f"all weights are 0 ({mix}); give at least one query type a positive weight"
        )
    return mix


MixKey = Annotated[str, AfterValidator(_check_mix_key)]
QueryType = Annotated[str, AfterValidator(_check_query_type)]
Label = Annotated[str, AfterValidator(_check_label)]
Mix = Annotated[dict[MixKey, Annotated[float, Field(ge=0)]], AfterValidator(_check_mix)]

DEFAULT_MIX: Final[dict[str, float]] = dict.fromkeys(QUERY_TYPES, 1.0)


class _Model(BaseModel):
    # strict: YAML already yields typed values; "3" for a number or true for 1 is a mistake.
    # No inf/nan: `.inf` seconds never end, and run.json must stay valid JSON.
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


class RequestSequence(_Model):
    """A count-bounded stage: one user sends each query type of the mix ``per_type`` times."""

    per_type: int = Field(ge=1, description="Requests per query type (the methodology: 20).")
    pause_s: float = Field(
        default=1.0,
        ge=0,
        description="Seconds between the end of one request and the next (replaces think time).",
    )


class Search(_Model):
    """A capacity search: the stage finds the highest load at which every SLO of its mix
    holds. Closed loop (``arrival.mode: closed``) searches users, open loop the arrival rate;
    it brackets (doubling or halving from ``start``), then bisects. The stage's ``hold_s`` is
    the search's time budget, and the stage must be the scenario's last."""

    low: float = Field(gt=0, description="Lowest load tried: users (closed) or requests/s (open).")
    high: float = Field(gt=0, description="Highest load tried: users or requests/s.")
    start: float | None = Field(default=None, gt=0, description="First load tried; default `low`.")
    resolution: float = Field(
        default=0.05,
        gt=0,
        lt=1,
        description="Stop when the failing load is within this fraction above the passing "
        "one (closed loop: at least 1 user apart).",
    )
    settle_s: float = Field(
        default=2.0, ge=0, description="Seconds after a load change before samples count."
    )
    min_samples: int = Field(
        default=100,
        ge=20,
        description="Successful requests per judged query type before a step may pass, and "
        "its first look (a p95's 99.5 % interval needs 117 independent samples to have an "
        "upper end; correlated samples need more).",
    )
    confidence: float = Field(
        default=0.995,
        gt=0.5,
        lt=1,
        description="Confidence of each step's certain pass or fail: its p95's interval "
        "(widened for serially correlated samples) must clear the SLO at this level. Stricter "
        "than 95 %, since the capacity's interval is bounded by several such decisions.",
    )
    step_max_s: float = Field(
        default=60.0, gt=0, description="Longest step; an undecided step is then repeated."
    )
    max_repeats: int = Field(
        default=1,
        ge=0,
        description="Repeats of a step whose decision is still uncertain (samples pooled); "
        "after them the point estimate decides and the step is marked uncertain.",
    )

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.high <= self.low:
            raise FieldError(("high",), f"{self.high:g} is not above low {self.low:g}")
        start = self.start if self.start is not None else self.low
        if not self.low <= start <= self.high:
            raise FieldError(
                ("start",), f"{start:g} is outside [low, high] = [{self.low:g}, {self.high:g}]"
            )
        return self

    @property
    def first_load(self) -> float:
        return self.start if self.start is not None else self.low

    def scaled(self, k: float) -> Search:
        """A copy with its durations multiplied by ``k`` (the scenario's time_scale)."""
        return self.model_copy(
            update={"settle_s": self.settle_s * k, "step_max_s": self.step_max_s * k}
        )


class Sweep(_Model):
    """A sweep of the arrival rate: a synchronous baseline (one user, no think time), the
    maximum throughput (the stage's users, no think time), then ``rates`` open-loop rates
    spread evenly between the two; each step lasts the stage's ``hold_s`` / (``rates`` + 2),
    unless a measuring step has no rate yet (it goes on; the later steps share what is left).
    Needs ``arrival.mode: open``; the stage must be the scenario's last."""

    rates: int = Field(default=5, ge=1, le=100, description="Open-loop rates between the two.")


class Stage(_Model):
    """One step of the load profile: ramp from the previous stage's users, then hold."""

    name: Label = Field(
        description="Label written on every request of the stage; default '<users>u' "
        "(a repeated default gets '-2', '-3', ...). 'warmup' is reserved."
    )
    description: str = Field(default="", description="What the stage is for (free text).")
    users: int = Field(ge=0, description="Concurrent virtual users once the ramp is over.")
    ramp_s: float = Field(
        default=0.0,
        ge=0,
        description="Seconds of the linear ramp from the previous stage's users (0: a jump).",
    )
    hold_s: float = Field(
        ge=0,
        description="Seconds held at `users` after the ramp. Instead of it a stage may give "
        "`duration_s` (seconds including the ramp); the loader turns it into hold_s.",
    )
    mix: Mix | None = Field(
        default=None, description="Query-type weights for this stage; default: the scenario's."
    )
    sequence: RequestSequence | None = Field(
        default=None,
        description="Make the stage count-bounded: one user runs a fixed sequence of requests; "
        "hold_s is then the time budget.",
    )
    sweep: Sweep | None = Field(
        default=None,
        description="Make the stage a rate sweep (hold_s is its whole length; `users` the "
        "throughput step's users and the open loop's user pool).",
    )
    search: Search | None = Field(
        default=None,
        description="Make the stage a capacity search (hold_s is its time budget; `users` is "
        "the open loop's user pool, unused in the closed loop).",
    )

    INPUT_ONLY_FIELDS: ClassVar[tuple[str, ...]] = ("duration_s",)

    @model_validator(mode="before")
    @classmethod
    def _duration_to_hold(cls, data: Any) -> Any:
        if not isinstance(data, dict) or "duration_s" not in data:
            # With an unknown key present (say "hold"), pydantic's report of it says more.
            if (
                isinstance(data, dict)
                and "hold_s" not in data
                and data.keys() <= cls.model_fields.keys()
            ):
                raise FieldError(
                    ("hold_s",),
                    "missing: give hold_s (seconds held after the ramp) or duration_s "
                    "(seconds including the ramp)",
                )
            return data
        data = dict(data)
        duration = data.pop("duration_s")
        if "hold_s" in data:
            raise FieldError(("duration_s",), "give hold_s or duration_s, not both")
        if not _is_number(duration) or not 0 < duration < math.inf:
            raise FieldError(
                ("duration_s",), f"expected a finite number of seconds > 0, got {duration!r}"
            )
        ramp = data.get("ramp_s", 0.0)
        if _is_number(ramp):
            if ramp > duration:
                raise FieldError(
                    ("ramp_s",),
                    f"the ramp ({ramp} s) is longer than the stage's duration_s ({duration} s)",
                )
            data["hold_s"] = float(duration - ramp)
        return data

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.ramp_s + self.hold_s <= 0:
            raise ValueError("ramp_s + hold_s is 0; a stage must last some time")
        if self.sequence is not None and self.users != 1:
            raise FieldError(("users",), f"a sequence stage runs exactly 1 user, got {self.users}")
        kinds = [k for k in ("sequence", "search", "sweep") if getattr(self, k) is not None]
        if len(kinds) > 1:
            raise FieldError((kinds[1],), f"a stage is one of sequence, search, sweep: {kinds}")
        if (self.search is not None or self.sweep is not None) and self.ramp_s:
            raise FieldError(("ramp_s",), f"a {kinds[0]} stage sets its loads itself: no ramp_s")
        return self

    @property
    def duration_s(self) -> float:
        return self.ramp_s + self.hold_s


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class ThinkTime(_Model):
    """Pause of a user between two requests (closed loop), in seconds."""

    kind: Literal["constant", "uniform", "exponential", "none"] = Field(
        default="uniform", description="Distribution of the pause."
    )
    seconds: float | None = Field(default=None, ge=0, description="constant: the pause.")
    min_s: float | None = Field(default=None, ge=0, description="uniform: shortest pause.")
    max_s: float | None = Field(default=None, ge=0, description="uniform: longest pause.")
    mean_s: float | None = Field(default=None, gt=0, description="exponential: mean pause.")

    @model_validator(mode="after")
    def _check(self) -> Self:
        needs = {
            "constant": ("seconds",),
            "uniform": ("min_s", "max_s"),
            "exponential": ("mean_s",),
            "none": (),
        }[self.kind]
        for name in ("seconds", "min_s", "max_s", "mean_s"):
            given = getattr(self, name) is not None
            if name in needs and not given:
                raise FieldError(
                    (name,), f"missing: kind {self.kind!r} needs {' and '.join(needs)}"
                )
            if name not in needs and given:
                uses = " and ".join(needs) or "no parameters"
                raise FieldError((name,), f"not used by kind {self.kind!r} (it takes {uses})")
        if self.min_s is not None and self.max_s is not None and self.min_s > self.max_s:
            raise FieldError(("min_s",), f"{self.min_s} is greater than max_s {self.max_s}")
        return self

    def sample(self, rng: random.Random) -> float:
        """One pause in seconds."""
        if self.kind == "constant" and self.seconds is not None:
            return self.seconds
        if self.kind == "uniform" and self.min_s is not None and self.max_s is not None:
            return rng.uniform(self.min_s, self.max_s)
        if self.kind == "exponential" and self.mean_s is not None:
            return rng.expovariate(1.0 / self.mean_s)
        return 0.0


class Arrival(_Model):
    """How requests arrive: closed loop (each user waits for its answer, then thinks) or
    open loop (requests are started on a schedule, whether or not earlier ones finished)."""

    mode: Literal["closed", "open"] = Field(default="closed", description="Arrival model.")
    rate: float | None = Field(
        default=None,
        gt=0,
        description="open: total requests per second over all users (required for open).",
    )
    process: Literal["poisson", "constant"] = Field(
        default="poisson",
        description="open: exponential gaps (poisson) or evenly spaced starts (constant).",
    )

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.mode == "open" and self.rate is None:
            raise FieldError(("rate",), "missing: mode 'open' needs a rate in requests per second")
        if self.mode == "closed" and self.rate is not None:
            raise FieldError(("rate",), f"{self.rate} is only used with mode 'open'")
        return self

    def gap_s(self, rng: random.Random, users: int = 1, rate: float | None = None) -> float:
        """Seconds from one request start of a user to its next, when ``users`` users
        share the rate (Poisson streams add up to a Poisson stream at the total rate);
        ``rate`` replaces the scenario's (a search step's)."""
        rate = rate or self.rate
        if rate is None:
            return 0.0
        per_user = rate / max(users, 1)
        if self.process == "constant":
            return 1.0 / per_user
        return rng.expovariate(per_user)


class Conversation(_Model):
    """Multi-turn conversations (the mix key ``conversation``)."""

    turns: int = Field(default=5, ge=1, description="Messages a user sends per conversation.")
    query_types: list[QueryType] = Field(
        default_factory=lambda: list[str](QUERY_TYPES),
        min_length=1,
        description="Query types of the turns, used in this order, cycling.",
    )


class Slo(_Model):
    """Service-level objectives of one query type; ``null`` disables a check."""

    ttft_p95_ms: float | None = Field(default=None, gt=0, description="TTFT p95 at most (ms).")
    e2e_p95_ms: float | None = Field(default=None, gt=0, description="E2E p95 at most (ms).")
    error_rate: float | None = Field(
        default=None, ge=0, le=1, description="Failed fraction of requests at most (0..1)."
    )
    quality_rate_min: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="Checked answers that passed their checks, at least (0..1); requests "
        "whose checks do not apply to the target are not counted.",
    )


DEFAULT_QUALITY_RATE_MIN: Final = 0.9
"""A service that serves fast but wrong answers has not passed a load test; 0.9 leaves room
for a real model's occasional miss on a strict check."""

DEFAULT_SLOS: Final[dict[str, dict[str, float]]] = {
    # E2E grows with the answer's length, so it is set per type from typical answer sizes;
    # TTFT is what a user waits for, and stays near the methodology's 1-2 s.
    "simple": {
        "ttft_p95_ms": 1000.0,
        "e2e_p95_ms": 2000.0,
        "error_rate": 0.01,
        "quality_rate_min": DEFAULT_QUALITY_RATE_MIN,
    },
    "code_generation": {
        "ttft_p95_ms": 1500.0,
        "e2e_p95_ms": 5000.0,
        "error_rate": 0.01,
        "quality_rate_min": DEFAULT_QUALITY_RATE_MIN,
    },
    "file_operations": {
        "ttft_p95_ms": 1500.0,
        "e2e_p95_ms": 3000.0,
        "error_rate": 0.01,
        "quality_rate_min": DEFAULT_QUALITY_RATE_MIN,
    },
    "multi_tool": {
        "ttft_p95_ms": 2000.0,
        "e2e_p95_ms": 4000.0,
        "error_rate": 0.01,
        "quality_rate_min": DEFAULT_QUALITY_RATE_MIN,
    },
    "reasoning": {
        "ttft_p95_ms": 2000.0,
        "e2e_p95_ms": 8000.0,
        "error_rate": 0.01,
        "quality_rate_min": DEFAULT_QUALITY_RATE_MIN,
    },
    # Turns of every type, so the loosest limits; the context also grows turn by turn.
    "conversation": {
        "ttft_p95_ms": 2000.0,
        "e2e_p95_ms": 8000.0,
        "error_rate": 0.01,
        "quality_rate_min": DEFAULT_QUALITY_RATE_MIN,
    },
}


class Monitor(_Model):
    """Processes sampled with psutil besides the Locust processes and the embedded agent."""

    interval_s: float = Field(default=1.0, gt=0, description="Seconds between samples.")
    pids: list[Annotated[int, Field(ge=1)]] = Field(
        default_factory=list, description="PIDs of the system under test."
    )
    names: list[str] = Field(
        default_factory=list,
        description="Process names (or parts of their command line) to sample as the SUT.",
    )


class Limits(_Model):
    """Upper bounds that stop a typo (``users: 100000000``, ``time_scale: 1e308``) before it
    wedges the master or never ends; a run that really needs more raises them here."""

    max_users: int = Field(
        default=10_000, ge=1, le=10_000_000, description="Most users of any stage."
    )
    max_rate: float = Field(
        default=10_000.0,
        gt=0,
        le=10_000_000,
        description="Highest open-loop arrival rate, requests per second.",
    )
    max_duration_s: float = Field(
        default=7 * 86_400.0,
        gt=0,
        le=366 * 86_400.0,
        description="Longest run, warm-up included, after time_scale (seconds; default 7 days).",
    )


class Scenario(_Model):
    """A load scenario: what load to apply over time, and what counts as good."""

    name: Label = Field(description="Scenario name; default: the file name without .yaml.")
    description: str = Field(default="", description="What the scenario measures.")
    stages: list[Stage] = Field(min_length=1, description="The load profile, in order.")
    warmup_s: float = Field(
        default=0.0,
        ge=0,
        description="Seconds of warm-up at the first stage's users before it (excluded from "
        "analysis); the first stage's ramp runs inside the warm-up.",
    )
    settle_s: float = Field(
        default=0.0,
        ge=0,
        description="Seconds after each ramp before the stage's steady-state window starts.",
    )
    mix: Mix = Field(
        default_factory=lambda: dict(DEFAULT_MIX),
        description="Query-type weights (relative; need not sum to 1).",
    )
    think_time: ThinkTime = Field(
        default_factory=lambda: ThinkTime(kind="uniform", min_s=1.0, max_s=3.0),
        description="Pause between a user's requests in the closed loop.",
    )
    arrival: Arrival = Field(default_factory=Arrival, description="Closed or open loop.")
    conversation: Conversation = Field(
        default_factory=Conversation, description="Shape of multi-turn conversations."
    )
    slos: dict[MixKey, Slo] = Field(
        default_factory=lambda: {k: Slo(**v) for k, v in DEFAULT_SLOS.items()},
        description="SLOs per query type; given fields replace the defaults one by one.",
    )
    targets: Targets = Field(default_factory=Targets, description="The baseline matrix.")
    required_users: int | None = Field(
        default=None,
        ge=1,
        description="Users the service must carry: the SLO verdict is judged at the lowest "
        "stage with at least this many (default: every stage must hold its SLOs).",
    )
    required_rate: float | None = Field(
        default=None,
        gt=0,
        description="Requests per second the service must carry: the SLO verdict is judged at "
        "the lowest stage whose throughput reached it (instead of required_users).",
    )
    alerts: list[AlertRule] = Field(
        default_factory=lambda: list(DEFAULT_RULES),
        description="Alert rules evaluated live (the list replaces the defaults).",
    )
    monitor: Monitor = Field(default_factory=Monitor, description="Extra processes to sample.")
    time_scale: float = Field(
        default=1.0,
        gt=0,
        description="Multiplies warmup_s, settle_s, every ramp_s/hold_s and alert for_s.",
    )
    model: str | None = Field(default=None, description="Model name sent with each request.")
    max_tokens: int | None = Field(default=None, ge=1, description="max_tokens of each request.")
    limits: Limits = Field(
        default_factory=Limits, description="Upper bounds on users, rate and duration."
    )

    @model_validator(mode="before")
    @classmethod
    def _prepare(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        stages = data.get("stages")
        if isinstance(stages, list):
            data["stages"] = _name_stages(stages)
        for key, defaults in (("slos", DEFAULT_SLOS), ("targets", _default_targets())):
            if isinstance(data.get(key), dict):
                data[key] = _merge(defaults, data[key])
        return data

    @model_validator(mode="after")
    def _check(self) -> Self:
        seen: dict[str, int] = {}
        for index, stage in enumerate(self.stages):
            if stage.name == WARMUP_STAGE:
                raise FieldError(
                    ("stages", index, "name"), f"{WARMUP_STAGE!r} is reserved for warmup_s"
                )
            if stage.name in seen:
                raise FieldError(
                    ("stages", index, "name"),
                    f"{stage.name!r} is already used by stages[{seen[stage.name]}]",
                )
            seen[stage.name] = index
            if stage.users > self.limits.max_users:
                raise FieldError(
                    ("stages", index, "users"),
                    f"{stage.users} is more than limits.max_users ({self.limits.max_users}); "
                    "raise limits.max_users if the run really needs that many",
                )
            lasts = stage.duration_s * self.time_scale
            if lasts < MIN_STAGE_S:
                raise FieldError(
                    ("stages", index),
                    f"lasts {lasts:g} s after time_scale {self.time_scale:g}; a stage must "
                    f"last at least {MIN_STAGE_S:g} s (Locust changes users once per second)",
                )
        slos = {k: v.model_dump() for k, v in self.slos.items()}
        self.alerts = with_slo_thresholds(self.alerts, slos)
        if self.required_users is not None and self.required_rate is not None:
            raise FieldError(("required_rate",), "give required_users or required_rate, not both")
        if self.arrival.rate is not None and self.arrival.rate > self.limits.max_rate:
            raise FieldError(
                ("arrival", "rate"),
                f"{self.arrival.rate:g} is more than limits.max_rate ({self.limits.max_rate:g} "
                "requests/s); raise limits.max_rate if the run really needs it",
            )
        total = self.total_duration_s
        if not total <= self.limits.max_duration_s:
            raise FieldError(
                ("time_scale",) if self.time_scale != 1 else ("stages",),
                f"the run lasts {total:.3g} s (time_scale {self.time_scale:g}), more than "
                f"limits.max_duration_s ({self.limits.max_duration_s:g} s); raise "
                "limits.max_duration_s if the run really needs it",
            )
        self._check_search()
        first = self.stages[0]
        if self.warmup_s > 0:
            if self.warmup_s * self.time_scale < MIN_STAGE_S:
                raise FieldError(
                    ("warmup_s",),
                    f"{self.warmup_s:g} lasts less than {MIN_STAGE_S:g} s after time_scale "
                    f"{self.time_scale:g}; use 0 for no warm-up",
                )
            if first.hold_s * self.time_scale < MIN_STAGE_S:
                raise FieldError(
                    ("stages", 0, "hold_s"),
                    f"{first.hold_s:g} s: with a warm-up the first stage's ramp runs during "
                    f"the warm-up, so the stage needs at least {MIN_STAGE_S:g} s of hold",
                )
        return self

    def _check_search(self) -> None:
        for index, stage in enumerate(self.stages):
            kind = "search" if stage.search is not None else "sweep" if stage.sweep else ""
            if not kind:
                continue
            where = ("stages", index, kind)
            if index != len(self.stages) - 1:
                raise FieldError(where, f"a {kind} stage must be the last stage")
            if index == 0 and self.warmup_s > 0:
                raise FieldError(
                    ("warmup_s",), f"no warm-up before a {kind} stage: put a stage before it"
                )
            if stage.sweep is not None:
                if self.arrival.mode != "open" or stage.users < 1:
                    raise FieldError(
                        where,
                        "a sweep needs arrival.mode open and `users` (its throughput step's "
                        "users, and the pool that sends its open-loop rates)",
                    )
                continue
            search = stage.search
            assert search is not None
            judged = [
                t
                for t, w in self.stage_mix(stage).items()
                if w > 0 and t in self.slos and self.slos[t].model_dump(exclude_none=True)
            ]
            if not judged:
                raise FieldError(
                    where, "no SLO to judge: give the stage's query types an SLO in `slos`"
                )
            if self.arrival.mode == "open":
                if stage.users < 1:
                    raise FieldError(
                        ("stages", index, "users"),
                        "missing: an open-loop search needs `users`, the users that send "
                        "its requests (more than rate x the slowest latency to observe)",
                    )
                if search.high > self.limits.max_rate:
                    raise FieldError(
                        (*where, "high"),
                        f"{search.high:g} is more than limits.max_rate "
                        f"({self.limits.max_rate:g} requests/s)",
                    )
                continue
            for name in ("low", "high", "start"):
                value = getattr(search, name)
                if value is not None and value != int(value):
                    raise FieldError(
                        (*where, name), f"{value:g}: a closed-loop search counts whole users"
                    )
            if search.high > self.limits.max_users:
                raise FieldError(
                    (*where, "high"),
                    f"{search.high:g} is more than limits.max_users ({self.limits.max_users})",
                )

    @property
    def total_duration_s(self) -> float:
        """Wall-clock length of the run in seconds, warm-up included, time_scale applied."""
        return (self.warmup_s + sum(s.duration_s for s in self.stages)) * self.time_scale

    def scaled(self) -> Scenario:
        """A copy with every duration multiplied by ``time_scale`` (and time_scale 1)."""
        k = self.time_scale
        return self.model_copy(
            update={
                "time_scale": 1.0,
                "warmup_s": self.warmup_s * k,
                "settle_s": self.settle_s * k,
                "stages": [
                    s.model_copy(
                        update={
                            "ramp_s": s.ramp_s * k,
                            "hold_s": s.hold_s * k,
                            "search": s.search.scaled(k) if s.search else None,
                        }
                    )
                    for s in self.stages
                ],
                "alerts": [
                    a.model_copy(update={"for_s": a.for_s * k, "keep_s": a.keep_s * k})
                    for a in self.alerts
                ],
            }
        )

    def stage_mix(self, stage: Stage) -> dict[str, float]:
        """The weights in force during ``stage``."""
        return dict(stage.mix if stage.mix is not None else self.mix)


def _name_stages(stages: list[Any]) -> list[Any]:
    """Give unnamed stages '<users>u', '<users>u-2', ... without clashing with given names."""
    taken = {s["name"] for s in stages if isinstance(s, dict) and isinstance(s.get("name"), str)}
    named: list[Any] = []
    for index, stage in enumerate(stages):
        if isinstance(stage, dict) and "search" in stage and "users" not in stage:
            stage = {**stage, "users": 0}  # the closed loop's search sets them
        if isinstance(stage, dict) and stage.get("name") is None:
            users = stage.get("users")
            valid = isinstance(users, int) and not isinstance(users, bool) and users >= 0
            base = f"{users}u" if valid else f"stage{index + 1}"
            for kind in ("search", "sweep"):
                base = kind if kind in stage else base
            name, n = base, 1
            while name in taken:
                n += 1
                name = f"{base}-{n}"
            taken.add(name)
            stage = {**stage, "name": name}
        named.append(stage)
    return named


def _default_targets() -> dict[str, Any]:
    return Targets().model_dump()


def _merge(defaults: Mapping[str, Any], given: Mapping[str, Any]) -> dict[str, Any]:
    """``given`` over ``defaults``, mappings merged key by key."""
    merged = copy.deepcopy(dict(defaults))
    for key, value in given.items():
        base = merged.get(key)
        if isinstance(base, Mapping) and isinstance(value, Mapping):
            merged[key] = _merge(base, value)
        else:
            merged[key] = value
    return merged


def load_scenario(path: Path | str, overrides: Mapping[str, Any] | None = None) -> Scenario:
    """Read, override and validate a scenario file; any mistake raises a one-line
    ``ConfigError`` (exit 2) naming the file, the line or field path, the value and what
    was expected. ``overrides`` maps dotted paths (``stages.0.users``) to values."""
    path = Path(path)
    name = path.name.removesuffix(".yaml").removesuffix(".yml")
    return load_model(
        path,
        Scenario,
        what="scenario",
        overrides=overrides,
        prepare=lambda data: {"name": name, **data},
    )


def available_scenarios() -> list[str]:
    """Names of the packaged scenarios."""
    return sorted(p.stem for p in SCENARIO_DIR.glob("*.yaml"))


def packaged_scenario_path(name_or_path: str) -> Path:
    """The file for a scenario name (``quick-ladder``) or path; unknown names list the
    packaged scenarios."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    packaged = SCENARIO_DIR / f"{name_or_path}.yaml"
    if packaged.is_file():
        return packaged
    if path.suffix in (".yaml", ".yml") or "/" in name_or_path:
        raise ConfigError(f"{name_or_path}: scenario file not found")
    names = available_scenarios()
    raise ConfigError(
        f"unknown scenario {name_or_path!r}{suggest(name_or_path, names)}; packaged "
        f"scenarios: {', '.join(names)} (or give the path of a YAML file)"
    )


def resolve_scenario(name_or_path: str, overrides: Mapping[str, Any] | None = None) -> Scenario:
    """Load a packaged scenario by name or a scenario file by path."""
    return load_scenario(packaged_scenario_path(name_or_path), overrides)
