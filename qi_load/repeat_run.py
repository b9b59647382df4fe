"""``qi-load run --repeat N``: N ordinary runs of one scenario inside a repeat-set directory."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from qi_load.cli import EXIT_INTERRUPTED
from qi_load.errors import QiLoadError, RunFailed
from qi_load.generate.validation import check_run_options
from qi_load.record.repeat_index import (
    RepeatIndex,
    RepeatRun,
    is_repeat_set,
    run_id_of,
    write_index,
)
from qi_load.record.rundir import new_run_id
from qi_load.runner import RunOptions, RunResult, run
from qi_load.scenario import resolve_scenario

if TYPE_CHECKING:  # pandas loads only once the set's report is written
    from qi_load.analyze.repeat_set import SetSummary

__all__ = ["RepeatResult", "run_repeated"]


@dataclass
class RepeatResult:
    set_dir: Path
    exit_code: int
    results: list[RunResult] = field(default_factory=list)
    summary: SetSummary | None = None
    report_paths: list[Path] = field(default_factory=list)


def _set_dir(options: RunOptions) -> tuple[str, Path]:
    load = options.load
    scenario = resolve_scenario(
        options.scenario, {"time_scale": load.time_scale} if load.time_scale else None
    )
    set_id = load.run_id or new_run_id(scenario.name)
    set_dir = options.out / set_id
    if is_repeat_set(set_dir):
        raise QiLoadError(f"{set_dir}: a repeat set is already there; choose another --run-id")
    return scenario.name, set_dir


def run_repeated(
    options: RunOptions, count: int, on_run: Callable[[RunResult], object] | None = None
) -> RepeatResult:
    """Run the scenario ``count`` times, one ordinary run directory each, and write the
    set's index after every change (a crash leaves a readable set); stop at the first run
    that is interrupted or fails. ``on_run`` sees each run's result as it ends."""
    if count < 2:
        raise QiLoadError(f"--repeat must be at least 2 for a repeat set, got {count}")
    check_run_options(options)
    scenario, set_dir = _set_dir(options)
    set_dir.mkdir(parents=True, exist_ok=True)
    index = RepeatIndex(
        set_id=set_dir.name, scenario=scenario, requested=count, created=time.time()
    )
    result = RepeatResult(set_dir=set_dir, exit_code=0)
    for number in range(1, count + 1):
        run_id = run_id_of(index.set_id, number)
        entry = RepeatRun(run_id=run_id, path=run_id, status="running")
        index.runs.append(entry)
        write_index(set_dir, index)
        print(f"qi-load: repeat {number} of {count}: run {run_id}", flush=True)
        one = dataclasses.replace(
            options, out=set_dir, load=options.load.model_copy(update={"run_id": run_id})
        )
        try:
            outcome = run(one)
        except RunFailed as exc:
            entry.status = "failed"
            write_index(set_dir, index)
            print(f"qi-load: run {run_id} failed: {exc}", flush=True)
            result.exit_code = 1
            break
        entry.status = outcome.status
        write_index(set_dir, index)
        result.results.append(outcome)
        if on_run is not None:
            on_run(outcome)
        if outcome.exit_code != 0:
            result.exit_code = outcome.exit_code
            break
    # Ctrl-C returns promptly, as for one run: `qi-load report SET_DIR` writes it later.
    if options.report and result.exit_code != EXIT_INTERRUPTED:
        _report(result)
    return result


def _report(result: RepeatResult) -> None:
    # pandas and matplotlib load here, in the wrapper, never in a Locust process.
    from qi_load.analyze.repeat_set import load_set
    from qi_load.render.repeats import write_set_report

    given = {r.run_dir.name: r.summary for r in result.results if r.summary is not None}
    result.summary = load_set(result.set_dir, given)
    result.report_paths = write_set_report(result.summary, result.set_dir)
