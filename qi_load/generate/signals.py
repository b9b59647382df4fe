"""SIGINT and SIGTERM in a Locust process: both take Locust's own graceful Ctrl-C path.

Locust stops on Ctrl-C through a ``KeyboardInterrupt`` in its main greenlet and on SIGTERM
through a handler that it installs only once a headless shape test has ended (a shape run
therefore ignored SIGTERM). Python raises ``KeyboardInterrupt`` in whatever greenlet happens
to run, often gevent's hub, which prints a traceback and a timestamp line before passing it
on. Here both signals are caught by gevent watchers, and the interrupt is thrown into the
main greenlet from the hub, exactly where gevent itself delivers system errors, so Locust's
``except KeyboardInterrupt`` runs its usual shutdown with nothing printed.

Locust's own SIGTERM handler, once installed, runs its shutdown in the signal's greenlet;
the main greenlet, woken when that shutdown quits the runner, then runs a second one (whose
JSON file finds Locust's stats already emptied by the first). ``hand_over_to_main`` is
called from the first ``quitting`` listener: the shutdown then runs once, in the main
greenlet, as for Ctrl-C.
"""

from __future__ import annotations

import logging
import signal
import time
from collections.abc import Callable

import gevent
import gevent.event
from locust.env import Environment
from locust.runners import STATE_INIT, MasterRunner

__all__ = ["hand_over_to_main", "in_main_greenlet", "install_signal_handlers"]

logger = logging.getLogger("qi_load")

LOCUST_HANDLER_GRACE_S = 0.1
"""Time Locust's own SIGTERM handler, when installed, has to start its shutdown."""

REPEAT_S = 1.0
"""A second signal later than this after the first is someone asking again, not a duplicate."""


def _throw_into_main(exception: BaseException) -> None:
    hub = gevent.get_hub()
    hub.loop.run_callback(hub.parent.throw, exception)


def in_main_greenlet() -> bool:
    return gevent.getcurrent() is gevent.get_hub().parent


def hand_over_to_main(*, first: bool) -> None:
    """Called in a shutdown that runs outside the main greenlet (Locust's SIGTERM handler):
    the ``first`` interrupts the main greenlet, whose own shutdown then does the work; a
    repeat (a second SIGTERM) must not interrupt that shutdown. Never returns (the process
    exits from the main greenlet)."""
    if first:
        _throw_into_main(KeyboardInterrupt())
    gevent.event.Event().wait()


def install_signal_handlers(
    environment: Callable[[], Environment | None],
    on_signal: Callable[[str], None],
    quitting: Callable[[], bool],
) -> None:
    """Catch SIGINT and SIGTERM in this process.

    ``environment()`` is Locust's environment once ``init`` ran (None before);
    ``on_signal(name)`` is told first; ``quitting()`` says whether Locust's shutdown began.
    """

    thrown_at: list[float] = []

    def interrupt(name: str) -> None:
        if thrown_at:
            # `timeout` signals the command and then its whole process group, and Ctrl-C can
            # be pressed twice: a second interrupt landing in Locust's shutdown would abort it
            # with a traceback and leave run.json `running`. Only a person's repeat is answered.
            if time.monotonic() - thrown_at[0] > REPEAT_S:
                logger.info("%s: already stopping; SIGKILL ends it at once", name)
            return
        if quitting():
            logger.debug("%s: Locust is already stopping", name)
            return
        thrown_at.append(time.monotonic())
        env = environment()
        runner = env.runner if env is not None else None
        options = env.parsed_options if env is not None else None
        if (
            isinstance(runner, MasterRunner)
            and runner.state == STATE_INIT
            and runner.shape_greenlet is None
            and getattr(options, "headless", False)
        ):
            # The master still waits for its workers: Locust has no handler there yet (its
            # own TODO); stop the workers that came and leave as Locust does when it gives up.
            logger.info("%s while waiting for workers: quitting", name)
            runner.quit()
            _throw_into_main(SystemExit(1))
            return
        _throw_into_main(KeyboardInterrupt())

    def on_sigint() -> None:
        on_signal("SIGINT")
        interrupt("SIGINT")

    def on_sigterm() -> None:
        on_signal("SIGTERM")
        gevent.sleep(LOCUST_HANDLER_GRACE_S)
        interrupt("SIGTERM")

    gevent.signal_handler(signal.SIGINT, on_sigint)
    gevent.signal_handler(signal.SIGTERM, on_sigterm)
