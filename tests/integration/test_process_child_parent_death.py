"""A child started by the helper dies with its parent, a real process killed with SIGKILL."""

from __future__ import annotations

import subprocess
import sys

import psutil
import pytest

from qi_load.process import deathsig

pytestmark = pytest.mark.integration


@pytest.mark.skipif(not deathsig.SUPPORTED, reason="Linux parent-death signal")
def test_a_child_dies_with_its_parent_however_the_parent_dies() -> None:
    code = (
        "from qi_load.process.child import spawn\n"
        "print(spawn(['sleep', '60']).pid, flush=True)\n"
        "import time; time.sleep(60)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        grandchild = psutil.Process(int(parent.stdout.readline()))
        parent.kill()
        parent.wait(10)
        grandchild.wait(5)  # psutil.TimeoutExpired if it outlived its parent
    finally:
        parent.kill()
        parent.wait(10)
        if parent.stdout is not None:
            parent.stdout.close()
