"""Locust integration: wires qi-load's parts to Locust's events, in every mode.

``install()`` is called at import of a qi-load locustfile. At ``init`` it builds the
process's ``QiState`` (hung on Locust's ``Environment``) and wires:

- workers (``worker_link``) ship their records inside Locust's own stats report (so both
  counts agree); the master (``worker_watch``) or the local runner alone writes them;
- the master owns the shape (``shape_wiring``) and broadcasts the stage plan and its
  wall-clock origin, so each worker tags every record with the stage in force at its start;
- each test (Locust's ``test_start``: a headless run, or every start in the web UI) opens
  its own run directory; ``test_stop`` finalizes its ``run.json``; records that arrive after
  it still land in it, and ``quit`` writes the final counts (``run_lifecycle``);
- without ``--scenario`` no shape is installed: ``-u/-r/-t`` work exactly as in plain Locust.
"""

from __future__ import annotations

import gc
import logging
import time
from typing import Any, Final, NoReturn

import gevent
import locust
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from qi_load.errors import QiLoadError
from qi_load.generate import monitoring, preflight, webui
from qi_load.generate.clock import worker_clock
from qi_load.generate.locust_options import add_arguments, with_env_vars
from qi_load.generate.locust_trim import trim_rate_counters
from qi_load.generate.master_watch import watch_master
from qi_load.generate.options import LoadOptions
from qi_load.generate.otlp_intake import start_span_intake
from qi_load.generate.parent_link import watch_parent
from qi_load.generate.plan import stage_plan
from qi_load.generate.progress import progress_loop
from qi_load.generate.queries import quality_manifest
from qi_load.generate.recent import RecentRequests
from qi_load.generate.run_lifecycle import finalize, open_run, quit_run
from qi_load.generate.run_state import QiState, attach_state, run_state
from qi_load.generate.shape_wiring import QiShape, configure_shape, drop_shape, on_sequence_done
from qi_load.generate.signals import hand_over_to_main, in_main_greenlet, install_signal_handlers
from qi_load.generate.validation import check_options
from qi_load.generate.wire import SEQUENCE_DONE_MESSAGE
from qi_load.generate.worker_link import init_worker, leave
from qi_load.generate.worker_loss import enable_rebalancing
from qi_load.generate.worker_watch import init_master
from qi_load.scenario import Scenario, resolve_scenario

__all__ = ["QiShape", "install", "with_env_vars"]

logger = logging.getLogger("qi_load")

FLUSH_INTERVAL_S: Final = 0.5
"""How often the master/local runner writes buffered records and flushes the CSVs."""


def _resolve_scenario(options: LoadOptions) -> Scenario | None:
    if not options.scenario:
        return None
    overrides = {"time_scale": options.time_scale} if options.time_scale else None
    return resolve_scenario(options.scenario, overrides).scaled()


def _stop_at_init(environment: Environment) -> NoReturn:
    """A bad option or a failed preflight: exit 2 before anything is written or ramped."""
    environment.process_exit_code = 2
    if environment.runner is not None:
        environment.runner.quit()
    raise SystemExit(2) from None


def _on_init(environment: Environment, **_kwargs: Any) -> None:
    runner = environment.runner
    qi = QiState(environment=environment)
    attach_state(environment, qi)
    _install_signals(qi)
    try:
        check_options(environment.parsed_options, environment.host)
        qi.options = LoadOptions.from_namespace(environment.parsed_options)
        if not isinstance(runner, WorkerRunner):  # a worker takes it from the master
            qi.scenario = _resolve_scenario(qi.options)
            qi.quality = quality_manifest(qi.options)
        else:
            qi.clock = worker_clock()
    except QiLoadError as exc:
        logger.error("%s", exc)
        _stop_at_init(environment)
    if qi.scenario is not None:
        qi.plan = stage_plan(qi.scenario)
    else:
        drop_shape(environment)
    if isinstance(runner, WorkerRunner):
        init_worker(qi, runner)
        watch_master(environment, runner)
    else:
        _preflight(qi)
        _init_writer(qi)
    # Added after the runner's own listeners, so it runs before them (quitting fires in
    # reverse): the flag is up before Locust's shutdown blocks.
    environment.events.quitting.add_listener(_on_quitting)
    environment.events.quit.add_listener(lambda exit_code, **_kw: _on_quit(qi, exit_code))
    qi.monitoring = monitoring.install_monitoring(
        environment, qi, qi.options, scenario=qi.scenario, clock=qi.clock.now
    )
    watch_parent(environment)
    # Everything built so far (Locust, qi-load, the scenario) lives for the whole run: keep it
    # out of the collector's full passes, which otherwise pause every stream for tens of ms.
    gc.freeze()
    # gevent's timers count from the loop's cached clock, last read before the imports and
    # this init: without a refresh Locust's -t timer, armed next, fires a second early.
    gevent.get_hub().loop.update_now()


def _preflight(qi: QiState) -> None:
    """Master/local: one request per protocol before anything is written or ramped; a
    failure ends the process with its one-line cause (exit 2, no run directory)."""
    if qi.options.no_preflight:
        return
    try:
        preflight.run_in_locust(qi)
    except QiLoadError as exc:
        preflight.report_failure(exc)
        _stop_at_init(qi.environment)


def _init_writer(qi: QiState) -> None:
    """Master/local: the run directory per test, the shape, the web UI, progress lines."""
    environment = qi.environment
    runner = environment.runner
    environment.events.test_start.add_listener(lambda **_kw: open_run(qi))
    environment.events.test_stop.add_listener(lambda **_kw: finalize(qi))
    configure_shape(qi)
    webui.install(qi)
    qi.spans = start_span_intake(qi.options)
    if isinstance(runner, MasterRunner):
        runner.register_message(SEQUENCE_DONE_MESSAGE, on_sequence_done)
        enable_rebalancing(environment)
        init_master(qi, runner)
    qi.greenlets.append(gevent.spawn(_flush_loop, qi))
    if qi.options.qi_progress > 0:
        qi.recent = RecentRequests()
        qi.greenlets.append(gevent.spawn(progress_loop, qi, qi.options.qi_progress))


def _flush_loop(qi: QiState) -> None:
    while True:
        gevent.sleep(FLUSH_INTERVAL_S)
        qi.drain()
        if qi.writer is not None:
            qi.writer.flush()
        if qi.spans is not None:
            qi.spans.flush()
        trim_rate_counters(qi.environment.stats, time.time())


def _install_signals(qi: QiState) -> None:
    def on_signal(name: str) -> None:
        # Remember that a signal ended the run (unless it had already ended by itself).
        if not qi.completed and not qi.interrupted_by:
            qi.interrupted_by = name

    install_signal_handlers(lambda: qi.environment, on_signal, lambda: qi.quitting)


def _on_quitting(environment: Environment, **_kw: Any) -> None:
    qi = run_state(environment)
    first = not qi.quitting
    qi.quitting = True
    if not in_main_greenlet():
        hand_over_to_main(first=first)  # Locust's SIGTERM handler: one shutdown, in main
    runner = environment.runner
    if isinstance(runner, WorkerRunner) and qi.interrupted_by:
        leave(qi, runner)


def _on_quit(qi: QiState, exit_code: int) -> None:
    for greenlet in qi.greenlets:
        greenlet.kill(block=False)
    if qi.monitoring is not None:
        qi.monitoring.stop()
    if qi.spans is not None:
        qi.spans.settle()
    quit_run(qi, exit_code)
    if qi.spans is not None:
        qi.spans.stop()


def install() -> None:
    """Register qi-load with Locust's events; idempotent (locustfiles call it on import)."""
    events = locust.events
    if _on_init in events.init._handlers:
        return
    events.init_command_line_parser.add_listener(with_env_vars(add_arguments))
    events.init.add_listener(_on_init)
