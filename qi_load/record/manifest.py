"""The ``run.json`` manifest: one typed model, read tolerantly, written and updated whole.

The plugin writes it at test start and updates it on worker loss and at test stop;
``qi-load run`` closes it when Locust could not. Every reader (analysis, report, ``run``)
goes through ``parse_manifest``: a run killed mid-way, or written by an older version,
still reads, a field that does not parse is left at its default with a warning.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from qi_load.record.wall_clock import wall_now

__all__ = [
    "SCHEMA_VERSION",
    "ClockOffset",
    "Counts",
    "LostWorker",
    "Manifest",
    "RunStatus",
    "WorkerInfo",
    "merge_manifest",
    "new_manifest",
    "parse_manifest",
    "read_manifest",
    "write_manifest",
]

SCHEMA_VERSION: Final = 2
"""2: ``schema_version`` and ``startup_ms`` added; a file without the field is version 1."""

RunStatus = Literal["running", "complete", "interrupted", "failed"]


class _Section(BaseModel):
    # Extra keys are kept: a file from a newer writer survives an older one's update.
    model_config = ConfigDict(extra="allow")


class ClockOffset(_Section):
    """A worker's clock against the master's, measured NTP-style over Locust's channel."""

    offset_ms: float = Field(
        description="The master's clock minus the worker's: the worker's times in the run "
        "directory have it added (they are on the master's time line)."
    )
    delay_ms: float = Field(
        description="Round trip of the probe it comes from: the offset is right within half."
    )
    samples: int = Field(description="Probes answered among those it was chosen from.")
    at: float | None = Field(default=None, description="Unix s the master got it.")


class WorkerInfo(_Section):
    id: str = Field(description="The Locust worker id.")
    joined: float | None = Field(default=None, description="Unix s it joined the test.")
    lost_at: float | None = Field(default=None, description="Unix s it left mid-test, or null.")
    clock: ClockOffset | None = Field(
        default=None, description="Its last measured clock offset; null until measured."
    )


class LostWorker(_Section):
    id: str = Field(description="The Locust worker id.")
    at: float | None = Field(default=None, description="Unix s it left.")
    reason: str = Field(
        default="",
        description="`heartbeat` (stopped heart-beating) or the signal that stopped it.",
    )


class Counts(_Section):
    requests: int = Field(default=0, description="Rows in requests.csv (cancelled ones too).")
    host_samples: int = Field(default=0, description="Rows in host_samples.csv.")


class Manifest(_Section):
    """``run.json``: what ran, when, and how it ended (docs/run-directory.md)."""

    schema_version: int = Field(default=1, description="This model's version when written.")
    run_id: str = Field(default="", description="The run's id (`YYYYMMDD-HHMMSS-<scenario>`).")
    status: RunStatus | None = Field(
        default=None,
        description="`running` while the test runs; then `complete`, `interrupted` or `failed`.",
    )
    interrupted_by: str | None = Field(
        default=None, description="`SIGINT`, `SIGTERM`, `stop` or null."
    )
    mode: Literal["local", "master"] | None = Field(
        default=None, description="One Locust process, or a master with workers."
    )
    scenario: dict[str, Any] | None = Field(
        default=None, description="The resolved scenario as its model dumps it."
    )
    target_url: str = Field(
        default="", description="The agent's base URL without credentials or query string."
    )
    start: float | None = Field(default=None, description="Unix s the test started.")
    end: float | None = Field(default=None, description="Unix s the test stopped.")
    test_start: float | None = Field(default=None, description="Unix s of the plan's t = 0.")
    expected_workers: int = Field(default=0, description="`--expect-workers` (0 when local).")
    workers: list[WorkerInfo] = Field(default_factory=list, description="Every worker.")
    lost_workers: list[LostWorker] = Field(
        default_factory=list, description="Workers that left mid-test."
    )
    stages: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Stage marks as run (`StageMark.to_dict()`: the field table in schema.py).",
    )
    environment: dict[str, Any] | None = Field(
        default=None, description="The load generator's machine (record.environment)."
    )
    counts: Counts = Field(default_factory=Counts, description="Rows written.")
    quality: dict[str, Any] | None = Field(
        default=None, description="The answer checks: mode, target declaration, checks."
    )
    ingest: dict[str, dict[str, int]] | None = Field(
        default=None,
        description="What the master dropped from the network: {records, samples} by reason.",
    )
    otlp: dict[str, Any] | None = Field(
        default=None,
        description="The span receiver (`--otlp-port`): its URL and what it accepted.",
    )
    error: str | None = Field(
        default=None,
        description="The write that failed (`PATH: cannot write: REASON`), status `failed`.",
    )
    clock_step_s: float | None = Field(
        default=None,
        description="How far the host's wall clock was stepped during the test (NTP, a "
        "resumed VM; positive: forward), or null. qi-load's own times are unaffected; other "
        "programs' (agent spans, Locust's CSV history) are off by that much.",
    )
    startup_ms: float | None = Field(
        default=None,
        description="The reference agent `qi-load run` started: spawn to ready, in ms.",
    )

    def to_json(self) -> str:
        # Only the keys a writer set: a key's presence keeps meaning what it did before
        # the model (``test_start`` appears when the plan starts).
        return self.model_dump_json(indent=2, exclude_unset=True) + "\n"


def new_manifest(
    *,
    run_id: str,
    mode: Literal["local", "master"],
    scenario: dict[str, Any] | None,
    target_url: str,
    expected_workers: int,
    workers: list[dict[str, Any]],
    quality: dict[str, Any] | None,
) -> Manifest:
    """The manifest of a test that starts now (``running``, this version)."""
    return Manifest(
        schema_version=SCHEMA_VERSION,
        run_id=run_id,
        status="running",
        mode=mode,
        scenario=scenario,
        target_url=target_url,
        start=wall_now(),
        end=None,
        expected_workers=expected_workers,
        workers=[WorkerInfo.model_validate(w) for w in workers],
        lost_workers=[],
        stages=[],
        environment=None,
        counts=Counts(requests=0, host_samples=0),
        quality=quality,
    )


def parse_manifest(data: Any, warnings: list[str] | None = None) -> Manifest:
    """``data`` (parsed JSON) as a manifest; a field that does not validate is dropped (a
    warning says which) so a partial or foreign file still reads; not an object: ValueError."""
    if not isinstance(data, dict):
        raise ValueError(f"expected a JSON object, got {type(data).__name__}")
    data = dict(data)
    for _ in range(len(Manifest.model_fields) + 1):
        try:
            return Manifest.model_validate(data)
        except ValidationError as exc:
            bad = {str(e["loc"][0]) for e in exc.errors() if e["loc"]}
            if not bad:
                raise ValueError(str(exc)) from None
            for key in sorted(bad):
                if warnings is not None:
                    warnings.append(f"run.json: field {key!r} = {data[key]!r:.60} ignored")
                del data[key]
    raise ValueError("run.json does not validate")  # pragma: no cover (fields run out)


def read_manifest(path: Path) -> Manifest:
    """``path``'s manifest; raises ``FileNotFoundError`` or ``ValueError`` (not JSON)."""
    text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from exc
    try:
        return parse_manifest(data)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None


def write_manifest(path: Path, manifest: Manifest) -> None:
    """Replace ``path`` atomically so readers never see half a file; on a failed write
    (``OSError``: disk full) the last good version stays and no temporary file."""
    tmp = path.with_suffix(".json.tmp")
    try:
        tmp.write_text(manifest.to_json(), encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise


def merge_manifest(path: Path, **fields: Any) -> Manifest:
    """``path``'s manifest (empty when missing) with ``fields`` (manifest field names,
    checked) merged in; the caller writes it."""
    unknown = set(fields) - set(Manifest.model_fields)
    if unknown:
        raise TypeError(f"not manifest fields: {', '.join(sorted(unknown))}")
    try:
        current = read_manifest(path)
    except FileNotFoundError:
        current = Manifest()
    return Manifest.model_validate({**current.model_dump(exclude_unset=True), **fields})
