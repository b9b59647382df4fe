"""`qi-load toolchain` interrupted mid-command: the tree is killed and its temp folder removed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from qi_cli import gone, qi_load_command

pytestmark = pytest.mark.integration

# The candidate starts a child, records both PIDs and its working folder, then hangs.
HANG = """
import os, subprocess, sys, time
from pathlib import Path
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
Path(sys.argv[1]).write_text(f"{os.getpid()} {child.pid} {os.getcwd()}")
time.sleep(120)
"""


def test_ctrl_c_kills_the_running_step_and_cleans_up(tmp_path: Path) -> None:
    script = tmp_path / "hang.py"
    script.write_text(HANG)
    info = tmp_path / "info"
    config = tmp_path / "hang.yaml"
    config.write_text(
        "comparisons:\n  - name: hang\n    a: 'true'\n"
        f"    b: ['{sys.executable}', '{script}', '{info}']\n"
    )
    qi_load = subprocess.Popen(
        qi_load_command(
            "toolchain",
            str(config),
            "-n",
            "1",
            "--warmup",
            "0",
            "--out",
            str(tmp_path / "out"),
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    pids: list[int] = []
    try:
        deadline = time.monotonic() + 30
        while not (info.exists() and info.read_text().count(" ") == 2):
            assert time.monotonic() < deadline, "the hanging candidate never started"
            assert qi_load.poll() is None, qi_load.communicate()
            time.sleep(0.05)
        root, child, workdir = info.read_text().split(" ")
        pids = [int(root), int(child)]
        qi_load.send_signal(signal.SIGINT)
        _, stderr = qi_load.communicate(timeout=30)
    finally:
        if qi_load.poll() is None:
            qi_load.kill()
            qi_load.wait()
        for pid in pids:
            if not gone(pid):
                os.kill(pid, signal.SIGKILL)
    assert qi_load.returncode == 130, stderr
    assert all(gone(pid) for pid in pids)
    assert Path(workdir).name.startswith("qi-toolchain-hang-")
    assert not Path(workdir).exists()
    assert not (tmp_path / "out" / "toolchain.json").exists()
