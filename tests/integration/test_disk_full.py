"""A disk that fills during `qi-load run` (a small tmpfs): the first failed write stops the run
with one line naming the path, exit 1, no traceback, and run.json finalized or its last good
version intact (never a lone temporary file)."""

from __future__ import annotations

import contextlib
import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from qi_cli import qi_load_command
from scenario_file import write_scenario

from qi_load.agent.launch import TargetProcess, start_target

pytestmark = pytest.mark.integration


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs, unmounted at the end (needs root, as in CI)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.strip()}")
    try:
        yield mount
    finally:
        if subprocess.run(["umount", str(mount)], check=False).returncode != 0:
            subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.fixture(scope="module")
def target() -> Iterator[TargetProcess]:
    with start_target(["--slots", "64"]) as running:
        yield running


def _fill(directory: Path) -> None:
    """Take every free byte of the file system ``directory`` is on."""
    chunk = b"\0" * 65536
    with contextlib.suppress(OSError), (directory / "filler").open("wb", buffering=0) as out:
        while True:
            out.write(chunk)


def test_disk_full_stops_the_run_with_one_line(
    small_disk: Path, target: TargetProcess, tmp_path: Path
) -> None:
    scenario = write_scenario(tmp_path, "full", [{"users": 4, "hold_s": 120}])
    run_dir = small_disk / "r"
    process = subprocess.Popen(
        qi_load_command(
            "run",
            str(scenario),
            *("--host", target.url, "--out", str(small_disk), "--run-id", "r"),
            *("--no-report", "--progress", "0"),
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 90
        requests = run_dir / "requests.csv"
        while not (requests.exists() and requests.stat().st_size > 2000):
            assert process.poll() is None and time.monotonic() < deadline, process.communicate()
            time.sleep(0.2)
        _fill(small_disk)
        filled = time.monotonic()
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert time.monotonic() - filled < 30, "the full disk was not noticed at its first write"
    assert process.returncode == 1, (out, err)
    assert "Traceback" not in out + err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "cannot write" in lines[0] and "No space left on device" in lines[0]
    assert str(run_dir) in lines[0]
    manifest = json.loads((run_dir / "run.json").read_text())  # finalized or the last good one
    assert manifest["status"] in ("failed", "running")
    assert not (run_dir / "run.json.tmp").exists()
