"""The plugin's event wiring: installed once, and at init a state with its run per test."""

from __future__ import annotations

import argparse
import gc
from collections.abc import Iterator
from pathlib import Path

import locust
import pytest
from locust.env import Environment

from qi_load.generate import plugin
from qi_load.generate.run_state import run_state


@pytest.fixture
def clean_events() -> Iterator[None]:
    """Locust's global hooks as they were: install() adds to them."""
    hooks = [locust.events.init, locust.events.init_command_line_parser]
    saved = [list(hook._handlers) for hook in hooks]
    yield
    for hook, handlers in zip(hooks, saved, strict=True):
        hook._handlers = handlers


def test_install_registers_once(clean_events: None) -> None:
    before = len(locust.events.init._handlers)
    plugin.install()
    plugin.install()
    assert len(locust.events.init._handlers) == before + 1


def test_init_attaches_the_state_and_each_test_gets_its_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(plugin, "install_signal_handlers", lambda *_a: None)  # pytest's own
    # The unit session froze its imports (conftest); a freeze here could only be undone
    # with gc.unfreeze(), which would thaw them too for every later test.
    monkeypatch.setattr(gc, "freeze", lambda: None)
    # Quitting waits for the sampler thread's current sleep: up to 0.2 s at the default
    # 1 s interval, one at 20 ms.
    options = argparse.Namespace(
        scenario="",
        time_scale=0.0,
        no_preflight=True,
        run_id="t",
        run_dir=str(tmp_path / "r"),
        monitor_interval=0.02,
    )
    env = Environment(parsed_options=options)
    env.create_local_runner()
    try:
        plugin._on_init(env)
        qi = run_state(env)
        assert qi.plan == [] and qi.monitoring is not None
        env.events.test_start.fire(environment=env)
        assert qi.run_dir is not None and qi.run_dir.path == tmp_path / "r"
        env.events.test_stop.fire(environment=env)
        assert qi.run_dir.read_manifest().status == "complete"
    finally:
        env.events.quit.fire(exit_code=0)
        if env.runner is not None:
            env.runner.quit()
    assert qi.writer is None  # closed at quit
