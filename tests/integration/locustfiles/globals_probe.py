"""Test locustfile: the packaged agent locustfile, plus a ``quit`` listener (added last, so
it runs after qi-load's) that writes the ``qi_load.generate`` globals holding state as JSON
to ``$QI_GLOBALS_OUT``."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from locust import events
from locust.env import Environment

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from module_state import fingerprints, generate_modules, state_globals

from qi_load.locustfiles.agent import AgentUser, QiShape

__all__ = ["AgentUser", "QiShape"]

BEFORE = fingerprints(generate_modules())


def _report(exit_code: int, **_kw: Any) -> None:
    found = [f for m in generate_modules() for f in state_globals(m, BEFORE.get(m.__name__))]
    Path(os.environ["QI_GLOBALS_OUT"]).write_text(json.dumps(found))


@events.init.add_listener
def _on_init(environment: Environment, **_kw: Any) -> None:
    environment.events.quit.add_listener(_report)
