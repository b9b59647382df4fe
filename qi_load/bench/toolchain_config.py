"""The ``qi-load toolchain`` file: named pairs of commands, with prepare and reset steps."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    model_validator,
)

from qi_load.yamlconf import load_model

__all__ = ["Command", "Comparison", "ToolchainConfig", "load_toolchain_config"]


def _command(value: Any) -> str | list[str]:
    if isinstance(value, str) and value.strip():
        return value
    if (
        isinstance(value, list)
        and value
        and all(isinstance(part, str) for part in value)
        and value[0]
    ):
        return value
    raise ValueError("expected a non-empty shell string or a non-empty list of strings (argv)")


Command = Annotated[str | list[str], PlainValidator(_command)]
"""A string runs through ``/bin/sh -c``; a list is an argv run directly."""


class Comparison(BaseModel):
    """Two commands doing the same job, timed alternately under the same conditions."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, description="Unique name of the comparison, e.g. `lint`.")
    description: str = Field("", description="What the two commands do, for the report.")
    baseline: Command = Field(
        validation_alias=AliasChoices("baseline", "a"),
        description="The reference command (key `baseline` or `a`); the speedup is relative to it.",
    )
    candidate: Command = Field(
        validation_alias=AliasChoices("candidate", "b"),
        description="The alternative command (key `candidate` or `b`).",
    )
    prepare: Command | None = Field(
        None,
        description="Untimed step before every timed command, e.g. a fresh copy of a sample tree.",
    )
    reset: Command | None = Field(
        None,
        description="Untimed step after every timed command, e.g. deleting caches, so no "
        "iteration inherits the previous one's state.",
    )
    cwd: str = Field(
        "{workdir}",
        description="Working directory of every step; relative paths are relative to the "
        "file's folder. Default: a fresh temporary folder for this comparison.",
    )
    env: dict[str, str] = Field(
        default_factory=dict, description="Extra environment variables for every step."
    )
    timeout_s: float = Field(300.0, gt=0, description="Limit for any one step, in seconds.")
    grade: Literal["build", "tests", "hot_reload"] | None = Field(
        None,
        description="Grade both commands' mean wall time against this methodology target.",
    )


class ToolchainConfig(BaseModel):
    """Iterations, warm-up and the comparisons of one toolchain benchmark."""

    model_config = ConfigDict(extra="forbid")

    iterations: int = Field(5, ge=1, description="Timed runs of each command (`-n`).")
    warmup: int = Field(1, ge=0, description="Untimed runs of each command first (`--warmup`).")
    confidence: float = Field(
        0.95, gt=0, lt=1, description="Confidence level of the speedup interval."
    )
    comparisons: list[Comparison] = Field(
        min_length=1, description="The command pairs, run in this order."
    )

    @model_validator(mode="after")
    def _unique_names(self) -> ToolchainConfig:
        seen: set[str] = set()
        for comparison in self.comparisons:
            if comparison.name in seen:
                raise ValueError(f"duplicate comparison name {comparison.name!r}")
            seen.add(comparison.name)
        return self


def load_toolchain_config(path: Path) -> ToolchainConfig:
    """Read and validate ``path``; any mistake raises ``ConfigError`` naming file and field."""
    return load_model(path, ToolchainConfig, what="toolchain")
