"""The toolchain benchmark: time two commands alternately, resetting the codebase between runs."""

from __future__ import annotations

import os
import shlex
import shutil
import sys
import sysconfig
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from qi_load.bench.proctree import ProcessTree
from qi_load.bench.toolchain_config import Comparison
from qi_load.errors import QiLoadError, RunFailed

__all__ = [
    "ComparisonResult",
    "Measurement",
    "Side",
    "argv_for",
    "measure_command",
    "run_comparison",
    "substitute",
]

Side = Literal["baseline", "candidate"]
_SAMPLE_S = 0.01


@dataclass(frozen=True)
class Measurement:
    """One timed run: wall time from spawn to exit, CPU time and peak RSS of its tree."""

    wall_s: float
    cpu_s: float | None
    peak_rss_bytes: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ComparisonResult:
    """The measured iterations of both commands of a comparison (warm-ups kept apart)."""

    comparison: Comparison
    commands: dict[Side, str]
    iterations: dict[Side, list[Measurement]] = field(
        default_factory=lambda: {"baseline": [], "candidate": []}
    )
    warmup: dict[Side, list[Measurement]] = field(
        default_factory=lambda: {"baseline": [], "candidate": []}
    )


def substitute(text: str, values: Mapping[str, str]) -> str:
    """Replace ``{name}`` placeholders; other braces (``find -exec {} +``) stay as they are."""
    for name, value in values.items():
        text = text.replace("{" + name + "}", value)
    return text


def argv_for(command: str | list[str], values: Mapping[str, str]) -> list[str]:
    """The argv of a configured command: a string runs through ``/bin/sh -c``."""
    if isinstance(command, str):
        return ["/bin/sh", "-c", substitute(command, values)]
    return [substitute(part, values) for part in command]


def measure_command(
    argv: Sequence[str],
    *,
    what: str,
    cwd: Path,
    env: Mapping[str, str],
    timeout_s: float,
) -> Measurement:
    """Run ``argv`` to its exit; a non-zero exit or a timeout raises ``QiLoadError`` (exit 1)."""
    try:
        tree = ProcessTree(argv, cwd=cwd, env=env)
        tree.start()
    except OSError as exc:
        raise QiLoadError(f"{what}: cannot start `{shlex.join(argv)}`: {exc}") from exc
    peak = 0
    with tree:
        deadline = tree.t_start + timeout_s
        next_sample = 0.0
        while tree.returncode is None:
            tree.read_output(_SAMPLE_S)
            now = time.perf_counter()
            if now > deadline:
                raise RunFailed(
                    f"{what}: `{shlex.join(argv)}` did not finish within {timeout_s:g} s; its "
                    "process tree was killed"
                )
            if tree.returncode is None and now >= next_sample:
                peak = max(peak, tree.sample().rss_bytes)
                next_sample = now + _SAMPLE_S
        assert tree.t_exit is not None
        wall = tree.t_exit - tree.t_start
        while tree.output_open and time.perf_counter() < tree.t_exit + 0.5:
            tree.read_output(0.05)
        if tree.returncode != 0:
            last = " | ".join(line for line in list(tree.tail)[-3:] if line.strip())
            raise RunFailed(
                f"{what}: `{shlex.join(argv)}` exited with code {tree.returncode}; last output: "
                f"{last or '(none)'}"
            )
    return Measurement(
        wall_s=wall,
        cpu_s=tree.exit_cpu_s,
        peak_rss_bytes=peak,
    )


def _environment(extra: Mapping[str, str], values: Mapping[str, str]) -> dict[str, str]:
    env = dict(os.environ)
    # Tools installed next to qi-load (ruff, pytest ...) win over others on PATH.
    scripts = sysconfig.get_path("scripts")
    env["PATH"] = os.pathsep.join([scripts, env.get("PATH", os.defpath)])
    env.update({key: substitute(value, values) for key, value in extra.items()})
    return env


def run_comparison(
    comparison: Comparison,
    *,
    iterations: int,
    warmup: int,
    config_dir: Path,
    on_measurement: Callable[[str, Side, str, Measurement], None] | None = None,
) -> ComparisonResult:
    """Warm-ups then iterations, each running both commands, alternating which goes first.

    Every timed command is preceded by ``prepare`` and followed by ``reset``, so both start
    from the same state; alternating the order (AB, BA, AB ...) spreads drift in the
    machine's load evenly over both.
    """
    workdir = Path(tempfile.mkdtemp(prefix=f"qi-toolchain-{comparison.name}-"))
    try:
        values = {
            "python": sys.executable,
            "workdir": str(workdir),
            "config_dir": str(config_dir),
        }
        cwd = config_dir / substitute(comparison.cwd, values)
        if not cwd.is_dir():
            raise QiLoadError(f"comparison {comparison.name!r}: cwd {cwd} is not a directory")
        env = _environment(comparison.env, values)
        commands: dict[Side, list[str]] = {
            "baseline": argv_for(comparison.baseline, values),
            "candidate": argv_for(comparison.candidate, values),
        }
        result = ComparisonResult(
            comparison, {side: shlex.join(argv) for side, argv in commands.items()}
        )

        def step(command: str | list[str] | None, what: str) -> None:
            if command is not None:
                measure_command(
                    argv_for(command, values),
                    what=what,
                    cwd=cwd,
                    env=env,
                    timeout_s=comparison.timeout_s,
                )

        for number in range(warmup + iterations):
            order: tuple[Side, Side] = (
                ("baseline", "candidate") if number % 2 == 0 else ("candidate", "baseline")
            )
            for side in order:
                what = f"{comparison.name}/{side}"
                step(comparison.prepare, f"{what}: prepare")
                measurement = measure_command(
                    commands[side], what=what, cwd=cwd, env=env, timeout_s=comparison.timeout_s
                )
                step(comparison.reset, f"{what}: reset")
                bucket = result.warmup if number < warmup else result.iterations
                bucket[side].append(measurement)
                if on_measurement is not None:
                    label = (
                        f"warm-up {number + 1}/{warmup}"
                        if number < warmup
                        else f"{number - warmup + 1}/{iterations}"
                    )
                    on_measurement(comparison.name, side, label, measurement)
        return result
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
