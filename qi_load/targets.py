"""Performance targets (the methodology's baseline matrix) and the grade a measured value earns."""

from __future__ import annotations

from typing import Any, Final, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from qi_load.vocabulary import RECORD_QUERY_TYPES
from qi_load.yamlconf import FieldError

__all__ = ["GRADES", "TOOLCHAIN_TARGETS", "Grade", "TargetLevels", "Targets"]

Grade = Literal["stretch", "target", "minimum", "fail", "not_measured"]
GRADES: Final[tuple[Grade, ...]] = ("stretch", "target", "minimum", "fail", "not_measured")
"""Best first: the ambitious level reached, the target, the minimum acceptable, none of them,
or no value to grade."""

_HIGHER_IS_BETTER: Final = frozenset({"throughput_rps"})


_CONFIG: Final = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)
"""As the scenario's: YAML yields typed values ("3" for a number is a mistake), and an
infinite level would grade everything and leave run.json invalid JSON."""


class _Model(BaseModel):
    model_config = _CONFIG


class TargetLevels(BaseModel):
    """Three levels of one target metric (frozen: one instance is every default's)."""

    model_config = ConfigDict(**_CONFIG, frozen=True)

    stretch: float = Field(ge=0, description="The ambitious level.")
    target: float = Field(ge=0, description="The level the service should reach.")
    minimum: float = Field(ge=0, description="The worst acceptable level.")

    def grade(self, value: float | None, *, higher_is_better: bool = False) -> Grade:
        """The best level ``value`` reaches (boundaries included); ``fail`` beyond the
        minimum, ``not_measured`` without a value."""
        if value is None:
            return "not_measured"
        sign = -1.0 if higher_is_better else 1.0
        levels: tuple[tuple[Grade, float], ...] = (
            ("stretch", self.stretch),
            ("target", self.target),
            ("minimum", self.minimum),
        )
        for name, level in levels:
            if sign * value <= sign * level:
                return name
        return "fail"

    def check_order(self, name: str, *, higher_is_better: bool) -> None:
        values = [self.stretch, self.target, self.minimum]
        if values != sorted(values, reverse=higher_is_better):
            order = (
                "stretch >= target >= minimum"
                if higher_is_better
                else "stretch <= target <= minimum"
            )
            shown = f"stretch {values[0]:g}, target {values[1]:g}, minimum {values[2]:g}"
            raise FieldError((name,), f"levels out of order ({shown}); expected {order}")


def _levels(stretch: float, target: float, minimum: float, description: str) -> Any:
    levels = TargetLevels(stretch=stretch, target=target, minimum=minimum)
    return Field(default=levels, description=description)


class Targets(_Model):
    """The targets of a load run, graded by ``qi-load report``: the scenario's ``targets``
    section, a ``--targets`` file over it, or the methodology's defaults. Lower is better
    except for throughput."""

    startup_ms: TargetLevels = _levels(
        200, 300, 500, "Command to ready, ms (graded when run.json carries startup_ms)."
    )
    memory_mb: TargetLevels = _levels(
        50, 75, 100, "Baseline resident memory of the agent at the lowest stage, MB."
    )
    p95_s: TargetLevels = _levels(
        1.0, 1.5, 2.0, "E2E p95 of a typical query (p95_query_type) at the reference stage, s."
    )
    throughput_rps: TargetLevels = _levels(
        25, 15, 10, "Highest throughput of a valid stage, successful requests per second."
    )
    reference_users: int = Field(
        default=10,
        ge=1,
        description="p95 is graded at the stage of the scenario's required load, else at the "
        "valid stage with the most users up to this count.",
    )
    p95_query_type: str = Field(
        default="simple",
        description="The typical query whose E2E p95 is graded (a long reasoning answer takes "
        "seconds by design and would fail a 2 s target at any load).",
    )
    gate: bool = Field(
        default=False,
        description="A target graded fail fails the verdict and --check. The methodology's "
        "defaults only inform; a --targets file turns this on unless it says otherwise.",
    )

    @staticmethod
    def higher_is_better(name: str) -> bool:
        return name in _HIGHER_IS_BETTER

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.p95_query_type not in RECORD_QUERY_TYPES:
            raise FieldError(
                ("p95_query_type",),
                f"unknown query type {self.p95_query_type!r}; expected one of "
                + ", ".join(RECORD_QUERY_TYPES),
            )
        for name in ("startup_ms", "memory_mb", "p95_s", "throughput_rps"):
            levels: TargetLevels = getattr(self, name)
            levels.check_order(name, higher_is_better=self.higher_is_better(name))
        return self


TOOLCHAIN_TARGETS: Final[dict[str, TargetLevels]] = {
    name: TargetLevels(stretch=stretch, target=target, minimum=minimum)
    for name, stretch, target, minimum in (
        ("build", 20.0, 30.0, 60.0),
        ("tests", 5.0, 10.0, 20.0),
        ("hot_reload", 0.1, 0.2, 0.5),
    )
}
"""The development toolchain's targets, seconds (``qi-load bench toolchain``)."""
